"""The sale screen: scan or search items, change quantities, identify the customer, tender, complete, cancel.

Each browser session has at most one open :class:`edge_agent.checkout.Sale`, started on first use and kept
on the session; every change is a form post answered with a redirect back to ``/sale`` (or the sale page
again with the field's message when the checkout refuses it). The sale lives on the checkout until it is
completed or cancelled: a refused action changes nothing (the checkout checks before it changes a line or
adds a tender, and writes nothing until :meth:`Sale.complete`, which is one transaction).

On a box with a fingerprint sensor the customer may also be found by finger (1:N among the sensor's regulars)
or, once found by phone or sticker, have their finger checked against their template (1:1). Each waits at
most ``WebServices.finger_wait_s`` on the service thread; a verification that fails leaves the customer on
the sale (the cashier decides) and the outcome is shown beside the customer until the sale or customer changes.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import Response

from core.errors import InvalidInput
from core.money import currency as core_currency
from core.points import PointsOverBalance
from edge_agent.catalogue import BadScan, UnknownBarcode
from edge_agent.checkout import Sale, SaleState
from edge_agent.identify import IdentifyError, NoFinger, NotEnrolled
from edge_agent.payments import PaymentError
from edge_agent.web.app import WebApp, checked_form, redirect, session_of, web
from edge_agent.web.auth import WebSession
from edge_agent.web.forms import MAX_QTY, FieldErrors, amount_minor, integer, text
from edge_agent.web.i18n import N_
from edge_agent.web.services import WebServices

log = logging.getLogger(__name__)
router = APIRouter()

MAX_SEARCH_CHARS: Final = 64
TENDER_KINDS: Final = ("cash", "card", "wallet")

# Where the checkout's field names are shown on the sale screen.
FIELD_OF: Final = {
    "barcode": "code",
    "sku": "code",
    "text": "code",
    "qty": "qty",
    "customer": "customer",
    "points": "points",
    "redeem_points": "points",
    "tenders": "amount",
    "amount_minor": "amount",
    "approval_code": "approval_code",
    "code": "wallet_code",
    "lines": "code",
    "sale": "",
}


def _field(exc: InvalidInput) -> str:
    name = exc.field.split(".")[0].split("[")[0] if exc.field else ""
    return FIELD_OF.get(name, "")


def _refused(errors: FieldErrors, exc: InvalidInput, message: str, fallback: str = "") -> None:
    """Keep a checkout refusal by its field; points beyond the balance say how many the customer has."""
    if isinstance(exc, PointsOverBalance):
        errors.add(
            "points",
            N_("Not enough points: the customer has %(points)s points available."),
            points=exc.available_points,
        )
        return
    errors.add(_field(exc) or fallback, message, detail=exc.problem)


def open_sale(services: WebServices, session: WebSession) -> Sale:
    """The session's open sale: the one in hand, else the one kept for it before a restart, else a new one
    (runs on the service thread)."""
    sale = session.sale
    if not isinstance(sale, Sale) or sale.state is not SaleState.OPEN:
        sale = services.checkout.open_for(session.key, session.cashier.cashier_id)
        session.sale = sale
    return sale


async def attach_customer(state: WebApp, session: WebSession, loyalty_id: str) -> None:
    """Put the customer with ``loyalty_id`` on the session's sale (after an enrolment or a lookup)."""

    def attach(s: WebServices) -> None:
        customer = s.customers.get(loyalty_id)
        if customer is not None:
            open_sale(s, session).set_customer(customer)

    await state.run(attach)


def finger_outcome(session: WebSession, sale: Sale) -> str | None:
    """The fingerprint outcome for the sale's customer (``identified``, ``verified``, ``mismatch``), if any."""
    check = session.finger_check
    if check is None or sale.customer is None or check[:2] != (sale.sale_id, sale.customer.loyalty_id):
        return None
    return check[2]


def sale_view(services: WebServices, session: WebSession) -> dict[str, Any]:
    """Everything the sale screen shows, priced now (runs on the service thread)."""
    sale = open_sale(services, session)
    context = services.shop()
    view: dict[str, Any] = {
        "currency": context.currency,
        "exponent": core_currency(context.currency).exponent,
        "lines": [
            {"line_id": line.line_id, "name": line.item.name, "sku": line.item.sku, "qty": line.qty}
            for line in sale.lines
        ],
        "customer": None,
        "fingerprint": services.identifier is not None,
        "points_to_redeem": sale.points_to_redeem,
        "wallets_enabled": context.settings.wallets_enabled,
        "has_program": context.program is not None,
        "priced": None,
        "settlement": None,
        "problem": None,
    }
    if sale.customer is not None:
        view["customer"] = {
            "loyalty_id": sale.customer.loyalty_id,
            "name": sale.customer.name,
            "balance_points": services.customers.balance(sale.customer),
            "has_fingerprint": sale.customer.has_fingerprint,
            "finger": finger_outcome(session, sale),
        }
    if not sale.lines:
        return view
    try:
        priced = sale.price()
        settlement = sale.settlement()
    except InvalidInput as exc:
        view["problem"] = exc
        return view
    by_line = {line.line_id: line for line in priced.lines}
    for line in view["lines"]:
        priced_line = by_line.get(line["line_id"])
        if priced_line is not None:
            line.update(
                unit_price_minor=priced_line.unit_price_minor,
                discount_minor=priced_line.discount_minor,
                amount_minor=priced_line.total_minor,
            )
    view["priced"] = {
        "totals": priced.totals,
        "promotions": [p for p in priced.promotions if p.status == "applied"],
        "skipped": [p for p in priced.promotions if p.status == "skipped"],
        "points": priced.points.total if priced.points is not None else None,
        "balance_after": priced.points_balance_after,
        "tier": priced.tier.tier_name if priced.tier is not None else None,
    }
    view["settlement"] = settlement
    view["tender_offset"] = 1 if sale.points_to_redeem else 0
    return view


async def show_sale(
    request: Request,
    state: WebApp,
    session: WebSession,
    *,
    errors: FieldErrors | None = None,
    values: dict[str, str] | None = None,
    results: list[Any] | None = None,
    status_code: int = 200,
) -> Response:
    view = await state.run(lambda s: sale_view(s, session))
    errors = errors or FieldErrors()
    problem = view.pop("problem")
    if problem is not None:
        errors.add_invalid(problem, {k: v for k, v in FIELD_OF.items() if v})
    tr = await state.translator(session, request)
    return await state.render(
        request,
        "sale.html",
        session,
        status_code=status_code,
        sale=view,
        results=results,
        errors=errors.render(tr),
        values=values or {},
        unknown_code=(values or {}).get("unknown_code", ""),
    )


@router.get("/sale")
async def sale_page(request: Request) -> Response:
    return await show_sale(request, web(request), session_of(request))


async def _act(request: Request, action: Any, form_fields: dict[str, str] | None = None) -> Response:
    """Run ``action(services, sale)``; on a refusal show the sale again with the message by its field."""
    state = web(request)
    session = session_of(request)
    errors = FieldErrors()
    try:
        await state.run(lambda s: action(s, open_sale(s, session)))
    except InvalidInput as exc:
        _refused(errors, exc, N_("The till refused this."))
        return await show_sale(request, state, session, errors=errors, values=form_fields, status_code=422)
    return redirect("/sale")


@router.post("/sale/scan")
async def scan(request: Request) -> Response:
    state = web(request)
    session = session_of(request)
    form = await checked_form(request, session)
    errors = FieldErrors()
    code = text(form, "code", errors, max_chars=MAX_SEARCH_CHARS)
    qty = integer(form, "qty", errors, low=1, high=MAX_QTY) if form.get("qty", "").strip() else 1
    if errors or qty is None:
        return await show_sale(request, state, session, errors=errors, values=form, status_code=422)
    count = qty
    try:
        await state.run(lambda s: open_sale(s, session).add_barcode(code, count))
    except (UnknownBarcode, BadScan) as exc:
        # Not a known barcode: the cashier may have typed a name or a SKU, so search for it.
        try:
            results = await state.run(lambda s: s.catalogue.search(code))
        except InvalidInput:
            results = []
        if results:
            return await show_sale(request, state, session, values={"code": code}, results=results)
        if isinstance(exc, UnknownBarcode):
            errors.add("code", N_("No item has this barcode."))
            values = {"code": code, "unknown_code": code}
        else:
            errors.add("code", N_("Nothing matches this search."))
            values = {"code": code}
        return await show_sale(request, state, session, errors=errors, values=values, status_code=422)
    except InvalidInput as exc:
        errors.add(_field(exc) or "code", N_("The till refused this."), detail=exc.problem)
        return await show_sale(request, state, session, errors=errors, values=form, status_code=422)
    return redirect("/sale")


@router.post("/sale/add")
async def add_sku(request: Request) -> Response:
    session = session_of(request)
    form = await checked_form(request, session)
    sku = form.get("sku", "").strip()[:64]
    return await _act(request, lambda _s, sale: sale.add_sku(sku, 1))


@router.post("/sale/lines/{line_id}/qty")
async def set_qty(request: Request, line_id: str) -> Response:
    state = web(request)
    session = session_of(request)
    form = await checked_form(request, session)
    errors = FieldErrors()
    qty = integer(form, "qty", errors, low=0, high=MAX_QTY)
    if qty is None:
        return await show_sale(request, state, session, errors=errors, status_code=422)
    if qty == 0:
        return await _act(request, lambda _s, sale: sale.void_line(line_id))
    count = qty
    return await _act(request, lambda _s, sale: sale.set_qty(line_id, count))


@router.post("/sale/lines/{line_id}/void")
async def void_line(request: Request, line_id: str) -> Response:
    session = session_of(request)
    await checked_form(request, session)
    return await _act(request, lambda _s, sale: sale.void_line(line_id))


@router.post("/sale/customer")
async def identify(request: Request) -> Response:
    state = web(request)
    session = session_of(request)
    form = await checked_form(request, session)
    errors = FieldErrors()
    who = text(form, "customer", errors, max_chars=64)
    if errors:
        return await show_sale(request, state, session, errors=errors, values=form, status_code=422)

    def find(s: WebServices) -> bool:
        sale = open_sale(s, session)
        found = s.customers.find(who)
        if found is None:
            return False
        sale.set_customer(found)
        session.finger_check = None
        return True

    try:
        found = await state.run(find)
    except InvalidInput as exc:
        errors.add("customer", N_("The till refused this."), detail=exc.problem)
        return await show_sale(request, state, session, errors=errors, values=form, status_code=422)
    if not found:
        errors.add("customer", N_("No customer matches. Check the number or enrol them."))
        return await show_sale(request, state, session, errors=errors, values=form, status_code=422)
    return redirect("/sale")


def _finger_problem(errors: FieldErrors, name: str, exc: IdentifyError) -> None:
    """The cashier's message for a fingerprint that could not be read; the sensor's own words go to the log."""
    if isinstance(exc, NoFinger):
        errors.add(name, N_("No finger reached the sensor in time. Try again, or use the phone number or the sticker."))
    elif isinstance(exc, NotEnrolled):
        errors.add(name, N_("This customer has no fingerprint on this box."))
    else:
        log.warning("fingerprint sensor problem: %s", exc)
        errors.add(name, N_("The fingerprint sensor is not working. Use the phone number or the sticker."))


@router.post("/sale/customer/finger")
async def identify_by_finger(request: Request) -> Response:
    """1:N: the customer puts a finger on the sensor; a regular found there is put on the sale."""
    state = web(request)
    session = session_of(request)
    await checked_form(request, session)
    errors = FieldErrors()

    def search(s: WebServices) -> bool:
        sale = open_sale(s, session)
        if s.identifier is None:
            raise InvalidInput("customer", "this box has no fingerprint sensor; use the phone number or the sticker")
        loyalty_id = s.identifier.identify_by_finger(s.finger_wait_s)
        customer = s.customers.get(loyalty_id) if loyalty_id is not None else None
        if customer is None:
            return False
        sale.set_customer(customer)
        session.finger_check = (sale.sale_id, customer.loyalty_id, "identified")
        return True

    try:
        found = await state.run(search)
    except IdentifyError as exc:
        _finger_problem(errors, "customer", exc)
        return await show_sale(request, state, session, errors=errors, status_code=422)
    except InvalidInput as exc:
        errors.add("customer", N_("The till refused this."), detail=exc.problem)
        return await show_sale(request, state, session, errors=errors, status_code=422)
    if not found:
        errors.add("customer", N_("No customer matches this fingerprint. Use the phone number or the sticker."))
        return await show_sale(request, state, session, errors=errors, status_code=422)
    return redirect("/sale")


@router.post("/sale/customer/verify")
async def verify_finger(request: Request) -> Response:
    """1:1: whether the finger on the sensor is the sale's customer's. A mismatch keeps the customer on the sale."""
    state = web(request)
    session = session_of(request)
    await checked_form(request, session)
    errors = FieldErrors()

    def check(s: WebServices) -> bool:
        sale = open_sale(s, session)
        customer = sale.customer
        if customer is None:
            raise InvalidInput("customer", "identify the customer first, then verify their fingerprint")
        if s.identifier is None:
            raise InvalidInput("customer", "this box has no fingerprint sensor")
        matched = s.identifier.verify(customer.loyalty_id, s.finger_wait_s)
        session.finger_check = (sale.sale_id, customer.loyalty_id, "verified" if matched else "mismatch")
        return matched

    try:
        matched = await state.run(check)
    except IdentifyError as exc:
        _finger_problem(errors, "finger", exc)
        return await show_sale(request, state, session, errors=errors, status_code=422)
    except InvalidInput as exc:
        errors.add("finger", N_("The till refused this."), detail=exc.problem)
        return await show_sale(request, state, session, errors=errors, status_code=422)
    log.info("fingerprint verification %s", "matched" if matched else "did not match")
    return redirect("/sale")


@router.post("/sale/customer/clear")
async def clear_customer(request: Request) -> Response:
    session = session_of(request)
    await checked_form(request, session)
    return await _act(request, lambda _s, sale: sale.set_customer(None))


@router.post("/sale/points")
async def use_points(request: Request) -> Response:
    state = web(request)
    session = session_of(request)
    form = await checked_form(request, session)
    errors = FieldErrors()
    points = integer(form, "points", errors, low=0, high=10**9)
    if points is None:
        return await show_sale(request, state, session, errors=errors, values=form, status_code=422)
    amount = points

    def apply(s: WebServices, sale: Sale) -> None:
        before = sale.points_to_redeem
        sale.use_points(amount)
        try:
            sale.price()  # checks the points against the program and the balance now, not at the end
        except InvalidInput:
            sale.use_points(before)
            raise

    return await _act(request, apply, form)


@router.post("/sale/tender")
async def add_tender(request: Request) -> Response:
    state = web(request)
    session = session_of(request)
    form = await checked_form(request, session)
    errors = FieldErrors()
    kind = form.get("kind", "")
    if kind not in TENDER_KINDS:
        errors.add("kind", N_("Pick one of the options."))
        return await show_sale(request, state, session, errors=errors, values=form, status_code=422)
    exponent = await state.run(lambda s: core_currency(s.shop().currency).exponent)
    if kind == "wallet" and not form.get("amount", "").strip():
        amount: int | None = None
    else:
        amount = amount_minor(form, "amount", errors, exponent=exponent)
    approval = text(form, "approval_code", errors, max_chars=12) if kind == "card" else ""
    reference = text(form, "terminal_reference", errors, required=False, max_chars=64) if kind == "card" else ""
    wallet_code = text(form, "wallet_code", errors, max_chars=32) if kind == "wallet" else ""
    if errors:
        return await show_sale(request, state, session, errors=errors, values=form, status_code=422)
    value = amount

    def tender(_s: WebServices, sale: Sale) -> None:
        if kind == "cash":
            assert value is not None
            sale.add_cash(value)
        elif kind == "card":
            assert value is not None
            sale.add_card(value, approval, reference or None)
        else:
            sale.add_wallet(wallet_code, value)
        try:
            sale.settlement()  # a tender that does not fit (a card over the amount due) is taken back at once
        except InvalidInput:
            sale.remove_tender(len(sale.tenders) - 1)
            raise

    return await _act(request, tender, form)


@router.post("/sale/tender/{index}/remove")
async def remove_tender(request: Request, index: int) -> Response:
    session = session_of(request)
    await checked_form(request, session)
    return await _act(request, lambda _s, sale: sale.remove_tender(index))


@router.post("/sale/complete")
async def complete(request: Request) -> Response:
    state = web(request)
    session = session_of(request)
    await checked_form(request, session)
    errors = FieldErrors()

    def finish(s: WebServices) -> tuple[str, str | None]:
        done = open_sale(s, session).complete()
        return done.sale_id, done.print_error

    try:
        sale_id, print_error = await state.run(finish)
    except InvalidInput as exc:
        _refused(errors, exc, N_("The sale could not be completed."), "amount")
        return await show_sale(request, state, session, errors=errors, status_code=422)
    except PaymentError:
        errors.add("wallet_code", N_("The wallet payment did not answer. Try again or take another tender."))
        return await show_sale(request, state, session, errors=errors, status_code=422)
    tr = await state.translator(session, request)
    session.notes.append(("ok", tr.gettext("Sale completed.")))
    if print_error is not None:
        session.notes.append(("error", tr.gettext("The receipt did not print. Check the printer and reprint it.")))
    session.sale = None
    return redirect(f"/receipts/{sale_id}")


@router.post("/sale/cancel")
async def cancel(request: Request) -> Response:
    state = web(request)
    session = session_of(request)
    await checked_form(request, session)

    def drop(_s: WebServices) -> None:
        sale = session.sale
        if isinstance(sale, Sale) and sale.state is SaleState.OPEN:
            sale.cancel()
        session.sale = None

    await state.run(drop)
    tr = await state.translator(session, request)
    session.notes.append(("ok", tr.gettext("Sale cancelled.")))
    return redirect("/sale")
