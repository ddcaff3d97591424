"""Stock: the items with their counts and alert levels, counts and adjustments, reorder suggestions, reports.

Counts, adjustments and reorder requests go through :class:`edge_agent.stock.StockBook` (one transaction
each, with their events and the alert and reorder rules). The stock list itself is a read of the ``item``,
``stock`` and ``stock_rule`` rows, which the stock book does not offer as a listing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final, get_args

from fastapi import APIRouter, Request
from fastapi.responses import Response

from core.errors import InvalidInput
from edge_agent.stock import MAX_ADJUST_QTY, MAX_REPORT_DAYS, AdjustReason
from edge_agent.web.app import checked_form, redirect, session_of, web
from edge_agent.web.forms import FieldErrors, integer, text
from edge_agent.web.i18n import N_
from edge_agent.web.services import WebServices

router = APIRouter()

MAX_STOCK_ROWS: Final = 200
"""Items the stock list shows at once; the search narrows it."""
ADJUST_KINDS: Final[tuple[str, ...]] = ("count", *get_args(AdjustReason))
REPORT_PERIODS: Final = (1, 7, 30, 90, 365)
"""The report periods offered, in days back from now."""


def stock_rows(services: WebServices, query: str) -> list[dict[str, Any]]:
    needle = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = services.store.conn.execute(
        "SELECT i.sku, i.name, coalesce(s.on_hand, 0), coalesce(r.alert_level, 'ok'), r.low_at, r.reorder_point "
        "FROM item i LEFT JOIN stock s ON s.sku = i.sku LEFT JOIN stock_rule r ON r.sku = i.sku "
        "WHERE i.active = 1 AND (? = '' OR i.name LIKE ? ESCAPE '\\' OR i.sku LIKE ? ESCAPE '\\') "
        "ORDER BY CASE coalesce(r.alert_level, 'ok') WHEN 'out' THEN 0 WHEN 'low' THEN 1 ELSE 2 END, i.name "
        "LIMIT ?",
        (query, f"%{needle}%", f"{needle}%", MAX_STOCK_ROWS),
    ).fetchall()
    return [
        {"sku": r[0], "name": r[1], "on_hand": r[2], "level": r[3], "low_at": r[4], "reorder_point": r[5]} for r in rows
    ]


async def _stock_page(
    request: Request,
    *,
    errors: FieldErrors | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    state = web(request)
    session = session_of(request)
    query = request.query_params.get("q", "").strip()[:64]
    rows = await state.run(lambda s: stock_rows(s, query))
    tr = await state.translator(session, request)
    shown = dict(values or {})
    shown.setdefault("sku", request.query_params.get("sku", ""))
    return await state.render(
        request,
        "stock.html",
        session,
        status_code=status_code,
        rows=rows,
        query=query,
        kinds=ADJUST_KINDS,
        errors=(errors or FieldErrors()).render(tr),
        values=shown,
    )


@router.get("/stock")
async def stock(request: Request) -> Response:
    return await _stock_page(request)


@router.post("/stock/adjust")
async def adjust(request: Request) -> Response:
    state = web(request)
    session = session_of(request)
    form = await checked_form(request, session)
    errors = FieldErrors()
    sku = text(form, "sku", errors, max_chars=64)
    kind = form.get("kind", "")
    if kind not in ADJUST_KINDS:
        errors.add("kind", N_("Pick one of the options."))
    low = -MAX_ADJUST_QTY if kind == "correction" else 0
    qty = integer(form, "qty", errors, low=low, high=MAX_ADJUST_QTY)
    note = text(form, "note", errors, required=False, max_chars=200)
    if errors or qty is None:
        return await _stock_page(request, errors=errors, values=form, status_code=422)
    cashier = session.cashier.cashier_id
    amount = qty

    def apply(s: WebServices) -> int:
        if kind == "count":
            return s.stock.count(sku, amount, cashier=cashier, note=note).on_hand_after
        reason: AdjustReason = kind  # type: ignore[assignment]  # checked against ADJUST_KINDS above
        return s.stock.adjust(sku, reason, amount, cashier=cashier, note=note).on_hand_after

    try:
        on_hand = await state.run(apply)
    except InvalidInput as exc:
        errors.add_invalid(exc, {"counted": "qty"})
        return await _stock_page(request, errors=errors, values=form, status_code=422)
    tr = await state.translator(session, request)
    session.notes.append(("ok", tr.gettext("Stock of %(sku)s is now %(count)s.") % {"sku": sku, "count": on_hand}))
    return redirect("/stock")


@router.get("/stock/reorder")
async def reorder_page(request: Request) -> Response:
    state = web(request)
    session = session_of(request)
    suggestions = await state.run(lambda s: s.stock.suggestions())
    return await state.render(request, "reorder.html", session, suggestions=suggestions)


@router.post("/stock/reorder")
async def reorder(request: Request) -> Response:
    state = web(request)
    session = session_of(request)
    form = await checked_form(request, session)
    suggestions = await state.run(lambda s: s.stock.suggestions())
    errors = FieldErrors()
    lines: list[tuple[str, int, str | None]] = []
    for item in suggestions:
        if not form.get(f"pick_{item.sku}"):
            continue
        qty = integer(form, f"qty_{item.sku}", errors, low=1, high=MAX_ADJUST_QTY)
        if qty is not None:
            lines.append((item.sku, qty, item.distributor))
    if not lines and not errors:
        errors.add("", N_("Tick the items to order."))
    if not errors:
        cashier = session.cashier.cashier_id
        try:
            await state.run(lambda s: s.stock.request_reorder(lines, cashier=cashier))
        except InvalidInput as exc:
            errors.add("", N_("The request was refused."), detail=exc.problem)
        else:
            tr = await state.translator(session, request)
            session.notes.append(("ok", tr.gettext("Reorder request sent.")))
            return redirect("/stock/reorder")
    tr = await state.translator(session, request)
    return await state.render(
        request,
        "reorder.html",
        session,
        status_code=422,
        suggestions=suggestions,
        errors=errors.render(tr),
        values=form,
    )


@router.get("/reports")
async def reports(request: Request) -> Response:
    state = web(request)
    session = session_of(request)
    raw = request.query_params.get("days", "30")
    days = int(raw) if raw.isdigit() and int(raw) in REPORT_PERIODS else 30
    days = min(days, MAX_REPORT_DAYS)
    end = datetime.now(UTC) + timedelta(minutes=1)
    start = end - timedelta(days=days)

    def build(s: WebServices) -> dict[str, Any]:
        return {
            "currency": s.shop().currency,
            "sellers": s.stock.best_sellers(start, end),
            "margins": s.stock.best_margins(start, end),
        }

    report = await state.run(build)
    return await state.render(request, "reports.html", session, days=days, periods=REPORT_PERIODS, **report)
