"""Manager pages: add an item the catalogue lacks, and add cashiers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from core.errors import InvalidInput
from core.money import currency as core_currency
from edge_agent.web.app import checked_form, manager_of, redirect, web
from edge_agent.web.auth import ROLES, create_cashier, list_cashiers
from edge_agent.web.forms import FieldErrors, amount_minor, choice, text
from edge_agent.web.i18n import N_
from edge_agent.web.services import WebServices

router = APIRouter()

ITEM_FIELDS = ("barcode", "name", "price", "cost", "category", "tax_category", "brand")


def _tax_categories(s: WebServices) -> tuple[str, ...]:
    return tuple(sorted(s.shop().jurisdiction.category_ids()))


@router.get("/items/new")
async def item_form(request: Request) -> Response:
    state = web(request)
    session = manager_of(request)
    categories = await state.run(_tax_categories)
    values = {"barcode": request.query_params.get("barcode", "")}
    return await state.render(request, "item_new.html", session, values=values, tax_categories=categories)


@router.post("/items/new")
async def add_item(request: Request) -> Response:
    state = web(request)
    session = manager_of(request)
    form = await checked_form(request, session)
    exponent = await state.run(lambda s: core_currency(s.shop().currency).exponent)
    categories = await state.run(_tax_categories)
    errors = FieldErrors()
    barcode = text(form, "barcode", errors, max_chars=48)
    name = text(form, "name", errors, max_chars=120)
    price = amount_minor(form, "price", errors, exponent=exponent)
    cost = amount_minor(form, "cost", errors, exponent=exponent) if form.get("cost", "").strip() else None
    category = text(form, "category", errors, max_chars=64)
    tax_category = choice(form, "tax_category", errors, categories, required=True)
    brand = text(form, "brand", errors, required=False, max_chars=64)
    if not errors and price is not None:
        unit_price = price

        def add(s: WebServices) -> str:
            item = s.catalogue.add_local_item(
                name=name,
                unit_price_minor=unit_price,
                category=category,
                tax_category=tax_category,
                barcode=barcode,
                cost_minor=cost,
                brand=brand or None,
            )
            return item.name

        try:
            added = await state.run(add)
        except InvalidInput as exc:
            errors.add_invalid(exc, {"unit_price_minor": "price", "cost_minor": "cost", "sku": "barcode"})
        else:
            tr = await state.translator(session, request)
            session.notes.append(("ok", tr.gettext("Item added: %(name)s") % {"name": added}))
            return redirect("/sale")
    tr = await state.translator(session, request)
    values = {key: form.get(key, "") for key in ITEM_FIELDS}
    return await state.render(
        request,
        "item_new.html",
        session,
        status_code=422,
        values=values,
        errors=errors.render(tr),
        tax_categories=categories,
    )


@router.get("/cashiers")
async def cashiers(request: Request) -> Response:
    state = web(request)
    session = manager_of(request)
    people = await state.run(lambda s: list_cashiers(s.store))
    return await state.render(request, "cashiers.html", session, cashiers=people, roles=ROLES)


@router.post("/cashiers")
async def add_cashier(request: Request) -> Response:
    state = web(request)
    session = manager_of(request)
    form = await checked_form(request, session)
    errors = FieldErrors()
    cashier_id = text(form, "cashier_id", errors, max_chars=32)
    name = text(form, "name", errors, max_chars=80)
    pin = text(form, "pin", errors, max_chars=8)
    if pin and not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8):
        errors.add("pin", N_("A PIN is 4 to 8 digits."))
    if pin and form.get("pin_again", "") != pin:
        errors.add("pin_again", N_("The two PINs differ."))
    role = choice(form, "role", errors, ROLES, required=True)
    if not errors:
        hasher = state.hasher
        try:
            await state.run(lambda s: create_cashier(s.store, cashier_id, name, pin, role, hasher=hasher))
        except InvalidInput as exc:
            errors.add_invalid(exc)
        else:
            tr = await state.translator(session, request)
            session.notes.append(("ok", tr.gettext("Cashier added: %(name)s") % {"name": name}))
            return redirect("/cashiers")
    tr = await state.translator(session, request)
    people = await state.run(lambda s: list_cashiers(s.store))
    values = {"cashier_id": cashier_id, "name": name, "role": form.get("role", "")}
    return await state.render(
        request,
        "cashiers.html",
        session,
        status_code=422,
        cashiers=people,
        roles=ROLES,
        values=values,
        errors=errors.render(tr),
    )
