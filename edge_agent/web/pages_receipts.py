"""Receipts: the latest sales, one sale's receipt, reprinting it, and refunding it in full or in part.

A receipt is shown from what the checkout stored with the sale (``sale.detail``: the priced receipt and the
settlement), so it reads the same as the paper one whatever changed in the catalogue since. Refunds go
through :meth:`edge_agent.checkout.Checkout.refund`, which writes the refund, its stock and its event in one
transaction or nothing.
"""

from __future__ import annotations

import json
from typing import Any, Final

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from core.errors import InvalidInput
from edge_agent.web.app import checked_form, redirect, session_of, web
from edge_agent.web.forms import MAX_QTY, FieldErrors, text
from edge_agent.web.i18n import N_
from edge_agent.web.services import WebServices

router = APIRouter()

MAX_RECEIPTS_LISTED: Final = 50
"""Sales the receipts list shows (the latest first); older ones are found by their number."""
MAX_SALE_ID_CHARS: Final = 64


def _check_id(sale_id: str) -> str:
    if not sale_id or len(sale_id) > MAX_SALE_ID_CHARS or not all(c.isalnum() or c in "-_." for c in sale_id):
        raise HTTPException(status_code=404, detail="no such receipt")
    return sale_id


def recent_sales(services: WebServices, limit: int = MAX_RECEIPTS_LISTED) -> list[dict[str, Any]]:
    rows = services.store.conn.execute(
        "SELECT sale_id, created_at, currency, total_minor, customer, cashier, refunded_minor FROM sale "
        "ORDER BY id DESC LIMIT ?",
        (min(limit, MAX_RECEIPTS_LISTED),),
    ).fetchall()
    return [
        {
            "sale_id": r[0],
            "created_at": r[1],
            "currency": r[2],
            "total_minor": r[3],
            "customer": r[4],
            "cashier": r[5],
            "refunded_minor": r[6],
        }
        for r in rows
    ]


def receipt_view(services: WebServices, sale_id: str) -> dict[str, Any] | None:
    """One sale as its receipt page shows it, with its lines, tenders, points and refunds; None if unknown."""
    conn = services.store.conn
    row = conn.execute(
        "SELECT id, sale_id, created_at, currency, total_minor, customer, cashier, points_earned, points_redeemed, "
        "refunded_minor, detail FROM sale WHERE sale_id = ?",
        (sale_id,),
    ).fetchone()
    if row is None:
        return None
    detail = json.loads(row[10]) if row[10] else {}
    lines = conn.execute(
        "SELECT line_no, sku, name, qty, unit_price_minor, discount_minor, amount_minor, refunded_qty "
        "FROM sale_line WHERE sale_pk = ? ORDER BY line_no",
        (row[0],),
    ).fetchall()
    refunds = conn.execute(
        "SELECT refund_id, total_minor, points_reversed, created_at FROM refund WHERE sale_id = ? ORDER BY created_at",
        (sale_id,),
    ).fetchall()
    priced = detail.get("priced", {})
    settlement = detail.get("settlement", {})
    return {
        "sale_id": row[1],
        "created_at": row[2],
        "currency": row[3],
        "total_minor": row[4],
        "customer": row[5],
        "cashier": row[6],
        "points_earned": row[7],
        "points_redeemed": row[8],
        "refunded_minor": row[9],
        "lines": [
            {
                "line_no": r[0],
                "sku": r[1],
                "name": r[2],
                "qty": r[3],
                "unit_price_minor": r[4],
                "discount_minor": r[5],
                "amount_minor": r[6],
                "refunded_qty": r[7],
                "left": r[3] - r[7],
            }
            for r in lines
        ],
        "totals": priced.get("totals", {}),
        "promotions": [p for p in priced.get("promotions", []) if p.get("status") == "applied"],
        "tenders": settlement.get("lines", []),
        "change_minor": settlement.get("change_minor", 0),
        "points": detail.get("customer"),
        "refunds": [
            {"refund_id": r[0], "total_minor": r[1], "points_reversed": r[2], "created_at": r[3]} for r in refunds
        ],
        "timezone": services.shop().store.timezone,
    }


@router.get("/receipts")
async def receipts(request: Request) -> Response:
    state = web(request)
    session = session_of(request)
    sales = await state.run(recent_sales)
    timezone = await state.run(lambda s: s.shop().store.timezone)
    return await state.render(request, "receipts.html", session, sales=sales, timezone=timezone)


async def _receipt(request: Request, sale_id: str) -> dict[str, Any]:
    sale_id = _check_id(sale_id)
    found = await web(request).run(lambda s: receipt_view(s, sale_id))
    if found is None:
        raise HTTPException(status_code=404, detail="no such receipt")
    return found


@router.get("/receipts/{sale_id}")
async def receipt(request: Request, sale_id: str) -> Response:
    state = web(request)
    session = session_of(request)
    return await state.render(request, "receipt.html", session, receipt=await _receipt(request, sale_id))


@router.post("/receipts/{sale_id}/reprint")
async def reprint(request: Request, sale_id: str) -> Response:
    state = web(request)
    session = session_of(request)
    await checked_form(request, session)
    found = await _receipt(request, sale_id)
    problem = await state.run(lambda s: s.checkout.reprint(found["sale_id"]))
    tr = await state.translator(session, request)
    if problem is None:
        session.notes.append(("ok", tr.gettext("Receipt printed again.")))
    else:
        session.notes.append(("error", tr.gettext("The receipt did not print. Check the printer and reprint it.")))
    return redirect(f"/receipts/{found['sale_id']}")


@router.get("/receipts/{sale_id}/refund")
async def refund_form(request: Request, sale_id: str) -> Response:
    state = web(request)
    session = session_of(request)
    return await state.render(request, "refund.html", session, receipt=await _receipt(request, sale_id))


@router.post("/receipts/{sale_id}/refund")
async def refund(request: Request, sale_id: str) -> Response:
    state = web(request)
    session = session_of(request)
    form = await checked_form(request, session)
    found = await _receipt(request, sale_id)
    errors = FieldErrors()
    reason = text(form, "reason", errors, max_chars=200)
    wanted: list[tuple[int, int]] = []
    if form.get("all"):
        lines: list[tuple[int, int]] | None = None
    else:
        for line in found["lines"]:
            name = f"qty_{line['line_no']}"
            raw = form.get(name, "").strip() or "0"
            if not raw.isdigit() or int(raw) > MAX_QTY:
                errors.add(name, N_("Enter a whole number."))
                continue
            qty = int(raw)
            if qty > line["left"]:
                errors.add(name, N_("At most %(count)s can be given back."), count=line["left"])
            elif qty:
                wanted.append((line["line_no"], qty))
        if not wanted and not errors:
            errors.add("", N_("Choose what to give back."))
        lines = wanted
    if not errors:
        cashier = session.cashier.cashier_id
        try:
            done = await state.run(lambda s: s.checkout.refund(found["sale_id"], lines, cashier=cashier, reason=reason))
        except InvalidInput as exc:
            field = exc.field.split(".")
            name = (
                f"qty_{field[1]}"
                if field[0] == "lines" and len(field) > 1
                else ("reason" if field[0] == "reason" else "")
            )
            errors.add(name, N_("The refund was refused."), detail=exc.problem)
        else:
            tr = await state.translator(session, request)
            plan = done.refund
            session.notes.append(
                (
                    "ok",
                    tr.gettext("Refunded %(amount)s; cash to hand back %(cash)s; points returned %(points)s.")
                    % {
                        "amount": tr.money(plan.refund_minor, plan.currency),
                        "cash": tr.money(plan.cash_out_minor, plan.currency),
                        "points": tr.number(plan.points_returned),
                    },
                )
            )
            return redirect(f"/receipts/{found['sale_id']}")
    tr = await state.translator(session, request)
    return await state.render(
        request, "refund.html", session, status_code=422, receipt=found, errors=errors.render(tr), values=form
    )
