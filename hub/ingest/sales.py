"""Sales become points postings.

The hub prices the sale's basket again with :func:`core.pricing.price`: the lines as the box sent them
(category, tax category, brand, distributor), the store's jurisdiction and time zone (the ``store`` row of
:mod:`hub.network`, else the box's embedded default settings), the promotion set the box used
(``promotion_set_version``: the published set of that version, version 0 the box's embedded defaults), the
tenant's program and the customer's facts (tier basis value, birthday, enrolment date and bonus years). The
points it finds are posted, split by funder as core splits them. When they differ from the box's
``points_earned`` an alert ``points_mismatch`` names both figures; when the hub cannot price the sale (no such
promotion set, an unknown customer, lines without categories) the box's figure is posted, split by the
program's funding, with an alert ``points_unverified``. Ingest never stops for either.

Redemptions are posted at the store's retailer account (:data:`hub.ledger.Kind.RETAILER`). A redemption made
online (the box asked with a fresh balance) is posted as it is; should the customer no longer have the
points, it is posted as an OFFLINE transfer and the ledger opens an overdraft for follow-up (alert
``points_overdraft``).

Points redeemed offline (``offline_hold_points``) are settled by :func:`core.points.settle_offline_hold`,
once, here: against the customer's account as it stands after the sale's earned and online-redeemed points,
the hold is posted down to minus the store's offline allowance and no further. That part is a pending hold
flagged OFFLINE. The rest is voided: never posted, kept in ``points_voided`` and alerted ``points_voided``
with the points and the customer's balance. Several boxes spending the same snapshot offline can therefore
never take a customer below minus the allowance (docs/ledger.md).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core import wire
from core.errors import InvalidInput
from core.money import allocate
from core.points import PointsProgram, settle_offline_hold
from core.pricing import price
from core.pricing.from_sale import UnpricedLine, sale_basket, wire_lines
from core.pricing.model import Store as PricingStore
from hub import db
from hub import ledger as lg
from hub.ingest.batch import (
    ALERT_MISMATCH,
    ALERT_OVERDRAFT,
    ALERT_REFUSED,
    ALERT_UNVERIFIED,
    ALERT_VOIDED,
    _apply,
    _Batch,
    _customer,
    _Figure,
    _jurisdiction,
    _promotion_set,
    _record,
    _StoreFacts,
)


def _post_sale(batch: _Batch, msg: wire.Message, sale: wire.SaleData) -> None:
    assert sale.customer is not None
    tenant = msg.topic.tenant
    program = batch.program(tenant)
    store = batch.store(tenant, sale.store)
    figure = _recompute(batch, tenant, msg.envelope.ts, sale, program, store)
    if figure.verdict == "mismatch":
        batch.report.mismatches += 1
        batch.alert(ALERT_MISMATCH, msg, figure.detail)
    elif figure.verdict == "unverified":
        batch.report.unverified += 1
        batch.alert(ALERT_UNVERIFIED, msg, figure.detail)
    lg.open_accounts(
        batch.conn,
        lg.sale_accounts(tenant, program.id, store.retailer, sale.customer, store.allowance_points),
        now=batch.now,
    )
    event_id = msg.envelope.id
    transfers = lg.sale_transfers(
        tenant=tenant,
        program=program.id,
        event_id=event_id,
        retailer=store.retailer,
        customer=sale.customer,
        distributor_points=figure.distributor,
        retailer_points=figure.retailer,
        redeemed_points=sale.points_redeemed,
        offline_hold_points=sale.offline_hold_points,
        effective_at=msg.envelope.ts,
    )
    hold_id = lg.derived_id(event_id, "hold")
    hold = next((t for t in transfers if t.id == hold_id), None)
    transfers = [t for t in transfers if t.id != hold_id]
    redeem_id = lg.derived_id(event_id, "redeem")
    results = _apply(batch, msg, transfers, frozenset({redeem_id}))
    for t, r in zip(transfers, results, strict=True):
        if t.id == redeem_id and r.status is lg.Status.EXCEEDS_FLOOR:
            _overdraft(batch, msg, t)
        elif t.id == redeem_id and not r.ok:
            batch.alert(ALERT_REFUSED, msg, f"ledger refused redeem {t.amount}: {r.status}")
    if hold is not None:
        _settle_hold(batch, msg, sale, store, program.id, hold)
    _record(
        batch,
        msg,
        kind="sale",
        store=store,
        customer=sale.customer,
        program=program.id,
        sale_id=sale.sale_id,
        total_minor=sale.total_minor,
        box_points=sale.points_earned,
        hub_points=figure.total,
        distributor_points=figure.distributor,
        retailer_points=figure.retailer,
        redeemed_points=sale.points_redeemed,
        hold_points=sale.offline_hold_points,
        verdict=figure.verdict,
    )
    if figure.customer_unknown:
        # Its enrolment is likely on its way (through another worker, say): verified when it is applied.
        batch.conn.execute(
            db.insert(batch.conn, db.posting_unverified)
            .values(
                event_id=event_id,
                tenant=tenant,
                device=msg.topic.device,
                customer=sale.customer,
                data=sale.model_dump(mode="json"),
                box_ts=msg.envelope.ts,
                created_at=batch.now,
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
        )
    batch.report.sales += 1


def _settle_hold(
    batch: _Batch, msg: wire.Message, sale: wire.SaleData, store: _StoreFacts, program: str, hold: lg.Transfer
) -> None:
    """Post the offline hold down to minus the store's allowance (:func:`core.points.settle_offline_hold`),
    and record and alert the rest as voided."""
    assert sale.customer is not None and hold.amount is not None and hold.debit_account_id is not None
    available = _available_locked(batch.conn, hold.debit_account_id)
    settled = settle_offline_hold(available, hold.amount, store.allowance_points)
    event_id = msg.envelope.id
    if settled.posted_points:
        # The hub has seen the sale the box honoured offline: the hold is posted in the same breath.
        _apply(
            batch,
            msg,
            [replace(hold, amount=settled.posted_points), _hold_post(event_id, hold.id, msg.envelope.ts)],
        )
    if settled.voided_points:
        batch.conn.execute(
            db.points_voided.insert().values(
                event_id=event_id,
                tenant=msg.topic.tenant,
                device=msg.topic.device,
                store=store.store,
                retailer=store.retailer,
                customer=sale.customer,
                program=program,
                sale_id=sale.sale_id,
                hold_points=hold.amount,
                posted_points=settled.posted_points,
                voided_points=settled.voided_points,
                available_points=available,
                allowance_points=store.allowance_points,
                box_ts=msg.envelope.ts,
                created_at=batch.now,
            )
        )
        batch.report.voided_points += settled.voided_points
        batch.alert(
            ALERT_VOIDED,
            msg,
            f"{settled.voided_points} of the {hold.amount} points customer {sale.customer} redeemed offline at store "
            f"{store.store} (sale {sale.sale_id}) voided, {settled.posted_points} posted: the customer had "
            f"{available} points at the hub and may go no lower than -{store.allowance_points} (the store's "
            "offline allowance), having spent points elsewhere since the box's balance (at another store offline, "
            "say). The voided points are not paid to the store at settlement; they are listed in points_voided",
        )


def _available_locked(conn: Connection, account: uuid.UUID) -> int:
    """The customer's points at the hub, posted less held (possibly negative), with the account locked until
    the transaction ends, so no other posting moves it between this reading and the hold."""
    a = db.ledger_account
    row = conn.execute(
        sa.select(a.c.credits_posted, a.c.debits_posted, a.c.debits_pending).where(a.c.id == account).with_for_update()
    ).one()
    return int(row.credits_posted) - int(row.debits_posted) - int(row.debits_pending)


def _hold_post(event_id: uuid.UUID, hold_id: uuid.UUID, at: datetime) -> lg.Transfer:
    return lg.Transfer(
        lg.derived_id(event_id, "hold-post"),
        None,
        None,
        None,
        lg.Code.REDEEM,
        str(event_id),
        pending_id=hold_id,
        flags=lg.TransferFlag.POST_PENDING,
        effective_at=at,
    )


def _overdraft(batch: _Batch, msg: wire.Message, refused: lg.Transfer) -> None:
    """A redemption the counter honoured that the customer can no longer cover: post it as OFFLINE, which the
    ledger accepts and lists as an overdraft."""
    again = lg.Transfer(
        lg.derived_id(msg.envelope.id, "redeem-overdraft"),
        refused.debit_account_id,
        refused.credit_account_id,
        refused.amount,
        lg.Code.REDEEM,
        refused.ref,
        flags=lg.TransferFlag.OFFLINE,
        effective_at=refused.effective_at,
    )
    if lg.apply_transfers(batch.conn, [again], now=batch.now)[0].ok:
        batch.alert(ALERT_OVERDRAFT, msg, f"{refused.amount} points redeemed beyond the balance, posted as overdraft")


def _recompute(
    batch: _Batch, tenant: str, box_ts: datetime, sale: wire.SaleData, program: PointsProgram, store: _StoreFacts
) -> _Figure:
    """The hub's figure for the sale's points, or the box's figure when the hub cannot price the sale."""

    def box_figure(reason: str, customer_unknown: bool = False) -> _Figure:
        distributor, retailer = allocate(sale.points_earned, program.funding.weights)
        detail = f"box {sale.points_earned}, hub unverified: {reason}"
        return _Figure(distributor, retailer, "unverified", detail, customer_unknown)

    version = sale.promotion_set_version
    if version is None:
        return box_figure("the sale names no promotion_set_version")
    promotions = _promotion_set(batch, tenant, sale.store, version)
    if isinstance(promotions, str):
        return box_figure(promotions)
    jurisdiction = _jurisdiction(batch, store.jurisdiction)
    if isinstance(jurisdiction, str):
        return box_figure(jurisdiction)
    assert sale.customer is not None
    customer = _customer(batch.conn, tenant, sale.customer, program, sale.points_redeemed)
    if customer is None:
        return box_figure(f"customer {sale.customer} is not known at the hub yet", customer_unknown=True)
    try:
        basket = sale_basket(
            sale.currency,
            PricingStore(store_id=sale.store, retailer_id=store.retailer, timezone=store.timezone),
            wire_lines(sale.lines),
        )
        priced = price(
            basket,
            customer,
            program,
            promotions,
            jurisdiction,
            box_ts,
            redeem_points=sale.points_redeemed,
        )
    except UnpricedLine as exc:
        return box_figure(exc.problem)
    except (InvalidInput, ValueError) as exc:
        return box_figure(str(exc))
    earned = priced.points
    if earned is None:
        return box_figure("the program gave no points breakdown")
    distributor = sum(e.distributor_points for e in earned.entries)
    retailer = sum(e.retailer_points for e in earned.entries)
    if distributor + retailer != sale.points_earned:
        detail = f"box {sale.points_earned}, hub {distributor + retailer}: the hub's figure is posted"
        return _Figure(distributor, retailer, "mismatch", detail)
    return _Figure(distributor, retailer, "match")
