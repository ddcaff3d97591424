"""Customer lookup (phone, sticker, loyalty id) and the enrolment form with consents and a drawn signature.

With fingerprint consent ticked on a box with a sensor, the finger is captured while the form is submitted,
before anything is written; the customer card offers withdrawing that consent, which erases the template.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import date
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from core.errors import InvalidInput
from edge_agent.customers import (
    GENDERS,
    CachedCustomer,
    CustomerChanges,
    Enrolment,
    EnrolmentForm,
    NotConfigured,
    NumbersExhausted,
    UnknownCustomer,
)
from edge_agent.errors import EdgeError
from edge_agent.identify import IdentifyError, NoFinger
from edge_agent.web.app import WebApp, checked_form, redirect, session_of, web
from edge_agent.web.auth import WebSession
from edge_agent.web.forms import FieldErrors, checkbox, choice, optional_date, signature_path, text
from edge_agent.web.i18n import N_
from edge_agent.web.services import WebServices
from hardware.errors import HardwareError

log = logging.getLogger(__name__)
router = APIRouter()

GENDER_CHOICES = tuple(g for g in ("female", "male", "other", "unspecified") if g in GENDERS)
ENROL_FIELDS = (
    "name",
    "phone",
    "sticker",
    "gender",
    "birth_date",
    "wechat_id",
    "whatsapp",
    "marketing_consent",
    "fingerprint_consent",
    "face_photo",
    "signature",
)


def customer_view(services: WebServices, customer: CachedCustomer) -> dict[str, Any]:
    """What the pages show of a customer, with the box's view of the balance."""
    return {
        "loyalty_id": customer.loyalty_id,
        "name": customer.name,
        "phone": customer.phone_e164 or "",
        "sticker": customer.sticker or "",
        "balance_points": services.customers.balance(customer),
        "tier_points": customer.tier_points,
        "marketing_consent": customer.marketing_consent,
        "fingerprint_consent": customer.fingerprint_consent,
        "has_fingerprint": customer.has_fingerprint,
        "has_signature": customer.has_signature,
        "enrolled_on": customer.enrolled_on.isoformat() if customer.enrolled_on else "",
    }


@router.get("/customers")
async def lookup(request: Request) -> Response:
    state = web(request)
    session = session_of(request)
    query = request.query_params.get("q", "").strip()
    errors = FieldErrors()
    found: dict[str, Any] | None = None
    if query:
        if len(query) > 64:
            errors.add("q", N_("At most %(count)s characters."), count=64)
        else:

            def find(s: WebServices) -> dict[str, Any] | None:
                customer = s.customers.find(query)
                return customer_view(s, customer) if customer else None

            try:
                found = await state.run(find)
            except InvalidInput as exc:
                errors.add_invalid(exc, {"text": "q"})
    tr = await state.translator(session, request)
    return await state.render(
        request,
        "customers.html",
        session,
        query=query,
        found=found,
        searched=bool(query) and not errors,
        errors=errors.render(tr),
        values={"q": query},
    )


@router.get("/customers/new")
async def enrol_form(request: Request) -> Response:
    state = web(request)
    session = session_of(request)
    values = {"phone": request.query_params.get("phone", ""), "for_sale": request.query_params.get("for_sale", "")}
    sensor, camera = await state.run(lambda s: (s.identifier is not None, s.camera is not None))
    return await state.render(
        request, "enrol.html", session, values=values, genders=GENDER_CHOICES, sensor=sensor, camera=camera
    )


def read_enrolment(form: dict[str, str], today: date) -> tuple[EnrolmentForm | None, FieldErrors]:
    """The enrolment form's fields checked one by one; the form is None when any field has a problem."""
    errors = FieldErrors()
    name = text(form, "name", errors, max_chars=120)
    phone = text(form, "phone", errors, required=False, max_chars=32)
    sticker = text(form, "sticker", errors, required=False, max_chars=32)
    if not phone and not sticker:
        errors.add("phone", N_("Give a phone number or scan a sticker."))
    gender = choice(form, "gender", errors, GENDER_CHOICES, required=False)
    birth = optional_date(form, "birth_date", errors, today=today)
    wechat = text(form, "wechat_id", errors, required=False, max_chars=64)
    whatsapp = text(form, "whatsapp", errors, required=False, max_chars=32)
    signature = signature_path(form, "signature", errors)
    if errors:
        return None, errors
    return (
        EnrolmentForm(
            name=name,
            phone=phone or None,
            sticker=sticker or None,
            gender=gender or None,
            birth_date=birth,
            wechat_id=wechat or None,
            whatsapp=whatsapp or None,
            signature=signature or None,
            # Two separate, explicit answers: marketing is yes/no; the fingerprint only with its own tick.
            marketing_consent=checkbox(form, "marketing_consent"),
            fingerprint_consent=checkbox(form, "fingerprint_consent"),
        ),
        errors,
    )


class _PhotoFailed(EdgeError):
    """The counter camera could not take the enrolment photo."""

    code = "photo_failed"


@router.post("/customers/new")
async def enrol(request: Request) -> Response:
    state = web(request)
    session = session_of(request)
    form = await checked_form(request, session)
    today = await state.run(lambda s: s.customers.today())
    enrolment, errors = read_enrolment(form, today)
    outcome: Enrolment | None = None
    if enrolment is not None:
        cashier = session.cashier.cashier_id
        form_in = enrolment

        wants_photo = checkbox(form, "face_photo")

        def capture_and_enrol(s: WebServices) -> Enrolment:
            # The finger and the photo are taken before anything is written: a failed capture leaves no
            # customer behind.
            filled = form_in
            if form_in.fingerprint_consent and s.identifier is not None:
                template = s.identifier.capture(s.finger_wait_s)
                filled = dataclasses.replace(filled, fingerprint_template=template)
            if wants_photo and s.camera is not None:
                try:
                    photo = s.camera.capture_jpeg()
                except (HardwareError, OSError) as exc:
                    raise _PhotoFailed(str(exc)) from exc
                filled = dataclasses.replace(filled, face_image=photo)
            return s.customers.enrol(filled, cashier=cashier)

        try:
            outcome = await state.run(capture_and_enrol)
        except InvalidInput as exc:
            errors.add_invalid(exc)
        except NotConfigured as exc:
            log.warning("enrolment refused, the box cannot number customers: %s", exc)
            errors.add(
                "",
                N_(
                    "This box cannot enrol customers yet: it has no range of loyalty numbers. Connect it to the "
                    "hub, or ask the distributor to assign this box a range."
                ),
            )
        except NumbersExhausted as exc:
            log.warning("enrolment refused: %s", exc)
            errors.add(
                "",
                N_(
                    "This box has used every loyalty number of its range. Ask the distributor to assign it a new range."
                ),
            )
        except NoFinger:
            errors.add(
                "fingerprint_consent",
                N_(
                    "The fingerprint was not captured: no finger reached the sensor in time. "
                    "Try again with the finger on the sensor, or untick the fingerprint consent."
                ),
            )
        except _PhotoFailed as exc:
            log.warning("photo capture failed at enrolment: %s", exc)
            errors.add(
                "face_photo",
                N_("The photo was not taken: the camera is not working. Try again, or untick the photo."),
            )
        except IdentifyError as exc:
            log.warning("fingerprint capture failed at enrolment: %s", exc)
            errors.add(
                "fingerprint_consent",
                N_(
                    "The fingerprint was not captured: the sensor is not working. "
                    "Try again, or untick the fingerprint consent."
                ),
            )
    if outcome is None:
        return await _enrol_again(request, state, session, form, errors)
    tr = await state.translator(session, request)
    if outcome.existing:
        session.notes.append(("ok", tr.gettext("This customer was already enrolled.")))
    else:
        session.notes.append(("ok", tr.gettext("Customer enrolled.")))
    if form.get("for_sale"):
        loyalty_id = outcome.customer.loyalty_id
        from edge_agent.web.pages_sale import attach_customer

        await attach_customer(state, session, loyalty_id)
        return redirect("/sale")
    return redirect(f"/customers/{outcome.customer.loyalty_id}")


async def _enrol_again(
    request: Request, state: WebApp, session: WebSession, form: dict[str, str], errors: FieldErrors
) -> Response:
    tr = await state.translator(session, request)
    values = {key: form.get(key, "") for key in (*ENROL_FIELDS, "for_sale")}
    sensor, camera = await state.run(lambda s: (s.identifier is not None, s.camera is not None))
    return await state.render(
        request,
        "enrol.html",
        session,
        status_code=422,
        values=values,
        errors=errors.render(tr),
        genders=GENDER_CHOICES,
        sensor=sensor,
        camera=camera,
    )


@router.get("/customers/{loyalty_id}")
async def customer_page(request: Request, loyalty_id: str) -> Response:
    state = web(request)
    session = session_of(request)
    if not (loyalty_id.isdigit() and len(loyalty_id) == 12):
        raise HTTPException(status_code=404, detail="no such customer")

    def get(s: WebServices) -> dict[str, Any] | None:
        customer = s.customers.get(loyalty_id)
        return customer_view(s, customer) if customer else None

    found = await state.run(get)
    if found is None:
        raise HTTPException(status_code=404, detail="no such customer")
    return await state.render(request, "customer.html", session, customer=found)


@router.post("/customers/{loyalty_id}/fingerprint/withdraw")
async def withdraw_fingerprint(request: Request, loyalty_id: str) -> Response:
    """The customer withdraws fingerprint consent: the template is erased here and on the sensor."""
    state = web(request)
    session = session_of(request)
    await checked_form(request, session)
    if not (loyalty_id.isdigit() and len(loyalty_id) == 12):
        raise HTTPException(status_code=404, detail="no such customer")
    cashier = session.cashier.cashier_id
    try:
        await state.run(
            lambda s: s.customers.update(loyalty_id, CustomerChanges(fingerprint_consent=False), cashier=cashier)
        )
    except UnknownCustomer as exc:
        raise HTTPException(status_code=404, detail="no such customer") from exc
    tr = await state.translator(session, request)
    session.notes.append(("ok", tr.gettext("Fingerprint consent withdrawn. The fingerprint was erased.")))
    return redirect(f"/customers/{loyalty_id}")
