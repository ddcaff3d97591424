"""The ledger's invariants under random sequences of operations (Hypothesis stateful tests), on both backends.

A model keeps what each account's totals must be; after every step the database must agree with it and
:func:`hub.ledger.reports.check_ledger` must find nothing broken: per program debits equal credits (posted and
pending), account totals equal their transfers, each customer's lots less its debt equal its balance, and no
limited account is below its floor unless an overdraft was flagged for it (the model says which may be).
Replaying any earlier transfer must change nothing at all.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import event
from sqlalchemy.engine import Engine

from core.points import PointsProgram
from hub import db
from hub import ledger as lg
from hub.ledger import reports as rep

PROGRAM = "club"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
CUSTOMERS = {"c0": 0, "c1": -30, "c2": -60}  # owner -> floor
FUNDERS = (lg.DISTRIBUTOR, "shop-a")
SHOPS = ("shop-a", "shop-b")
EXAMPLES = 100
STEPS = 80
MIN_STEPS = 5_000
"""Up to 100 examples x 80 steps per backend; at least MIN_STEPS of them must really run on each backend."""
_tenants = itertools.count(1)

amounts = st.integers(min_value=1, max_value=150)


@dataclass
class Totals:
    """What one account's totals must be."""

    dp: int = 0
    dpo: int = 0
    cp: int = 0
    cpo: int = 0


@dataclass
class Posted:
    """A posted transfer that may still be reversed."""

    transfer: lg.Transfer
    debit: uuid.UUID
    credit: uuid.UUID
    amount: int
    reversed: int = 0


@dataclass
class Run:
    """Counts across examples, to show the steps really ran."""

    steps: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


def make_machine(engine: Engine, run: Run) -> type[RuleBasedStateMachine]:
    class LedgerMachine(RuleBasedStateMachine):
        """Random earns, redemptions, holds, posts, voids, reversals, expiries and replays."""

        def __init__(self) -> None:
            super().__init__()
            self.example = next(_tenants)
            self.tenant = f"t{self.example}-{uuid.uuid4().hex[:8]}"
            self.ids = itertools.count(1)
            self.now = T0
            self.totals: dict[uuid.UUID, Totals] = {}
            self.applied: list[lg.Transfer] = []
            self.posted: list[Posted] = []
            self.holds: dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID, int]] = {}
            self.resolved: list[uuid.UUID] = []
            self.may_overdraw: set[uuid.UUID] = set()
            specs = [
                lg.AccountSpec(self.tenant, PROGRAM, lg.Kind.CUSTOMER, c, floor_points=f) for c, f in CUSTOMERS.items()
            ]
            specs += [lg.AccountSpec(self.tenant, PROGRAM, lg.Kind.ISSUANCE, f) for f in FUNDERS]
            specs += [lg.AccountSpec(self.tenant, PROGRAM, lg.Kind.RETAILER, s) for s in SHOPS]
            specs += [lg.AccountSpec(self.tenant, PROGRAM, lg.Kind.EXPIRED, lg.DISTRIBUTOR)]
            program = PointsProgram(id=PROGRAM, name="Club", currency="MXN")
            with engine.begin() as conn:
                lg.register_program(conn, self.tenant, program, lot_expiry_months=3, now=T0)
                for acct in lg.open_accounts(conn, specs, now=T0):
                    self.totals[acct] = Totals()

        def new_id(self) -> uuid.UUID:
            # Ordered within the example whatever the example's number, so replays tie-break lots alike.
            return uuid.UUID(int=(self.example << 64) | next(self.ids))

        def acct(self, kind: lg.Kind, owner: str) -> uuid.UUID:
            return lg.account_id(self.tenant, PROGRAM, kind, owner)

        def apply(self, *transfers: lg.Transfer) -> list[lg.Status]:
            run.steps += 1
            with engine.begin() as conn:
                results = lg.apply_transfers(conn, list(transfers), now=self.now)
            statuses = [r.status for r in results]
            for s in statuses:
                run.statuses[s.value] = run.statuses.get(s.value, 0) + 1
            return statuses

        def available(self, account: uuid.UUID) -> int:
            t = self.totals[account]
            return t.cpo - t.dpo - t.dp

        def post(self, transfer: lg.Transfer, debit: uuid.UUID, credit: uuid.UUID, amount: int) -> None:
            self.totals[debit].dpo += amount
            self.totals[credit].cpo += amount
            self.applied.append(transfer)
            self.posted.append(Posted(transfer, debit, credit, amount))

        # --- rules ---------------------------------------------------------------------------------------

        @rule(customer=st.sampled_from(sorted(CUSTOMERS)), funder=st.sampled_from(FUNDERS), amount=amounts)
        def earn(self, customer: str, funder: str, amount: int) -> None:
            src, dst = self.acct(lg.Kind.ISSUANCE, funder), self.acct(lg.Kind.CUSTOMER, customer)
            t = lg.Transfer(self.new_id(), src, dst, amount, lg.Code.EARN, "sale", effective_at=self.now)
            assert self.apply(t) == [lg.Status.CREATED]
            self.post(t, src, dst, amount)

        @rule(
            customer=st.sampled_from(sorted(CUSTOMERS)),
            shop=st.sampled_from(SHOPS),
            amount=amounts,
            offline=st.booleans(),
            hold=st.booleans(),
        )
        def redeem(self, customer: str, shop: str, amount: int, offline: bool, hold: bool) -> None:
            src, dst = self.acct(lg.Kind.CUSTOMER, customer), self.acct(lg.Kind.RETAILER, shop)
            flags = (lg.TransferFlag.OFFLINE if offline else lg.TransferFlag.NONE) | (
                lg.TransferFlag.PENDING if hold else lg.TransferFlag.NONE
            )
            t = lg.Transfer(self.new_id(), src, dst, amount, lg.Code.REDEEM, "sale", flags=flags)
            within = self.available(src) - amount >= CUSTOMERS[customer]
            statuses = self.apply(t)
            if not within and not offline:
                assert statuses == [lg.Status.EXCEEDS_FLOOR]
                return
            assert statuses == [lg.Status.CREATED]
            if not within:
                self.may_overdraw.add(src)
            if hold:
                self.totals[src].dp += amount
                self.totals[dst].cp += amount
                self.holds[t.id] = (src, dst, amount)
                self.applied.append(t)
            else:
                self.post(t, src, dst, amount)

        @precondition(lambda self: self.holds)
        @rule(data=st.data(), void=st.booleans())
        def resolve(self, data: st.DataObject, void: bool) -> None:
            pending_id = data.draw(st.sampled_from(list(self.holds)))  # insertion order: replays draw alike
            src, dst, amount = self.holds[pending_id]
            posted = amount if void else data.draw(st.integers(min_value=1, max_value=amount))
            flags = lg.TransferFlag.VOID_PENDING if void else lg.TransferFlag.POST_PENDING
            t = lg.Transfer(
                self.new_id(), None, None, None if void else posted, lg.Code.REDEEM, pending_id=pending_id, flags=flags
            )
            assert self.apply(t) == [lg.Status.CREATED]
            del self.holds[pending_id]
            self.resolved.append(pending_id)
            self.totals[src].dp -= amount
            self.totals[dst].cp -= amount
            if void:
                self.applied.append(t)
            else:
                self.post(t, src, dst, posted)

        @precondition(lambda self: self.resolved)
        @rule(data=st.data())
        def resolve_again_is_refused(self, data: st.DataObject) -> None:
            pending_id = data.draw(st.sampled_from(self.resolved))
            t = lg.Transfer(
                self.new_id(),
                None,
                None,
                None,
                lg.Code.REDEEM,
                pending_id=pending_id,
                flags=lg.TransferFlag.VOID_PENDING,
            )
            assert self.apply(t)[0] in (lg.Status.PENDING_ALREADY_POSTED, lg.Status.PENDING_ALREADY_VOIDED)

        @precondition(
            lambda self: any(p.amount > p.reversed and p.transfer.code != lg.Code.EXPIRE for p in self.posted)
        )
        @rule(data=st.data())
        def reverse(self, data: st.DataObject) -> None:
            candidates = [p for p in self.posted if p.amount > p.reversed and p.transfer.code != lg.Code.EXPIRE]
            original = data.draw(st.sampled_from(candidates))
            amount = data.draw(st.integers(min_value=1, max_value=original.amount - original.reversed))
            # A refund was already given at the counter: it is never refused for want of points.
            t = lg.Transfer(
                self.new_id(),
                original.credit,
                original.debit,
                amount,
                lg.Code.REVERSE,
                str(original.transfer.id),
                flags=lg.TransferFlag.OFFLINE,
            )
            floor = CUSTOMERS.get(self._owner(original.credit))
            if floor is not None and self.available(original.credit) - amount < floor:
                self.may_overdraw.add(original.credit)
            assert self.apply(t) == [lg.Status.CREATED]
            original.reversed += amount
            self.post(t, original.credit, original.debit, amount)
            self.posted[-1].reversed = amount  # a reversal is not reversed again

        @precondition(lambda self: self.posted)
        @rule(data=st.data())
        def reverse_beyond_the_original_is_refused(self, data: st.DataObject) -> None:
            original = data.draw(
                st.sampled_from([p for p in self.posted if p.transfer.code != lg.Code.REVERSE] or self.posted)
            )
            t = lg.Transfer(
                self.new_id(),
                original.credit,
                original.debit,
                original.amount - original.reversed + 1,
                lg.Code.REVERSE,
                str(original.transfer.id),
                flags=lg.TransferFlag.OFFLINE,
            )
            assert self.apply(t)[0] in (lg.Status.REVERSAL_EXCEEDS_ORIGINAL, lg.Status.REVERSAL_TARGET_NOT_POSTED)

        @rule(days=st.integers(min_value=1, max_value=120))
        def time_passes_and_lots_expire(self, days: int) -> None:
            self.now += timedelta(days=days)
            run.steps += 1
            with engine.begin() as conn:
                results = lg.expire_lots(conn, self.tenant, PROGRAM, now=self.now)
                assert all(r.status is lg.Status.CREATED for r in results)
                again = lg.expire_lots(conn, self.tenant, PROGRAM, now=self.now)
                assert again == [], "a second expiry run at the same time must find nothing to do"
                t = db.ledger_transfer
                rows = (
                    conn.execute(
                        sa.select(t.c.id, t.c.debit_account_id, t.c.credit_account_id, t.c.amount, t.c.ref).where(
                            t.c.id.in_([r.id for r in results])
                        )
                    ).all()
                    if results
                    else []
                )
            for r in rows:
                transfer = lg.Transfer(
                    r.id,
                    r.debit_account_id,
                    r.credit_account_id,
                    r.amount,
                    lg.Code.EXPIRE,
                    r.ref,
                    effective_at=self.now,
                )
                self.post(transfer, r.debit_account_id, r.credit_account_id, r.amount)

        @precondition(lambda self: self.applied)
        @rule(data=st.data(), twice=st.booleans())
        def replaying_a_transfer_changes_nothing(self, data: st.DataObject, twice: bool) -> None:
            t = data.draw(st.sampled_from(self.applied))
            before = self.snapshot()
            assert self.apply(*([t, t] if twice else [t])) == [lg.Status.EXISTS] * (2 if twice else 1)
            assert self.snapshot() == before

        @precondition(lambda self: self.applied)
        @rule(data=st.data())
        def a_changed_replay_is_refused(self, data: st.DataObject) -> None:
            t = data.draw(st.sampled_from(self.applied))
            changed = lg.Transfer(
                t.id,
                t.debit_account_id,
                t.credit_account_id,
                t.amount,
                t.code,
                t.ref + "!",
                t.pending_id,
                t.flags,
                t.effective_at,
            )
            before = self.snapshot()
            assert self.apply(changed) == [lg.Status.EXISTS_WITH_DIFFERENT_FIELDS]
            assert self.snapshot() == before

        @rule(customer=st.sampled_from(sorted(CUSTOMERS)), earned=amounts, spent=amounts)
        def a_sale_earns_and_spends_in_one_batch(self, customer: str, earned: int, spent: int) -> None:
            src = self.acct(lg.Kind.ISSUANCE, lg.DISTRIBUTOR)
            cust, shop = self.acct(lg.Kind.CUSTOMER, customer), self.acct(lg.Kind.RETAILER, "shop-b")
            e = lg.Transfer(self.new_id(), src, cust, earned, lg.Code.EARN, "sale", effective_at=self.now)
            r = lg.Transfer(self.new_id(), cust, shop, spent, lg.Code.REDEEM, "sale")
            within = self.available(cust) + earned - spent >= CUSTOMERS[customer]
            statuses = self.apply(e, r)
            assert statuses[0] is lg.Status.CREATED
            self.post(e, src, cust, earned)
            if within:
                assert statuses[1] is lg.Status.CREATED
                self.post(r, cust, shop, spent)
            else:
                assert statuses[1] is lg.Status.EXCEEDS_FLOOR

        # --- invariants ----------------------------------------------------------------------------------

        def _owner(self, account: uuid.UUID) -> str:
            for owner in CUSTOMERS:
                if self.acct(lg.Kind.CUSTOMER, owner) == account:
                    return owner
            return ""

        def snapshot(self) -> list[Any]:
            with engine.connect() as conn:
                a, lot = db.ledger_account, db.ledger_lot
                accounts = conn.execute(sa.select(a).where(a.c.tenant == self.tenant).order_by(a.c.id)).all()
                lots = conn.execute(
                    sa.select(lot.c.id, lot.c.remaining, lot.c.expired_points)
                    .where(lot.c.account_id.in_([r.id for r in accounts]))
                    .order_by(lot.c.id)
                ).all()
                count = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(db.ledger_transfer)
                    .where(db.ledger_transfer.c.tenant == self.tenant)
                ).scalar_one()
            return [tuple(r) for r in accounts] + [tuple(r) for r in lots] + [count]

        @invariant()
        def the_ledger_is_consistent_and_matches_the_model(self) -> None:
            with engine.connect() as conn:
                assert rep.check_ledger(conn, self.tenant, PROGRAM) == []
                a = db.ledger_account
                rows = conn.execute(sa.select(a).where(a.c.tenant == self.tenant)).all()
                overdrawn = {
                    r.account_id
                    for r in conn.execute(
                        sa.select(db.ledger_overdraft.c.account_id).where(db.ledger_overdraft.c.tenant == self.tenant)
                    )
                }
            for r in rows:
                want = self.totals[r.id]
                assert (r.debits_pending, r.debits_posted, r.credits_pending, r.credits_posted) == (
                    want.dp,
                    want.dpo,
                    want.cp,
                    want.cpo,
                ), f"{r.kind} {r.owner}"
                if (
                    r.kind == lg.Kind.CUSTOMER
                    and r.credits_posted - r.debits_posted - r.debits_pending < r.floor_points
                ):
                    assert r.id in self.may_overdraw and r.id in overdrawn, f"{r.owner} below its floor unflagged"
            assert overdrawn <= self.may_overdraw

    return LedgerMachine


@pytest.fixture
def engine(hub_engine: Engine) -> Iterator[Engine]:
    """The migrated hub database; on SQLite without fsync per commit (durability is not under test here)."""
    if hub_engine.dialect.name != "sqlite":
        yield hub_engine
        return
    fast = db.make_engine(hub_engine.url.render_as_string(hide_password=False))
    event.listen(fast, "connect", lambda dbapi_conn, _record: dbapi_conn.execute("PRAGMA synchronous=OFF"))
    try:
        yield fast
    finally:
        fast.dispose()


def test_random_operations_keep_every_ledger_invariant(engine: Engine) -> None:
    run = Run()
    run_state_machine_as_test(
        make_machine(engine, run),
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.function_scoped_fixture,
                HealthCheck.filter_too_much,
            ],
        ),
    )
    # Hypothesis ends some examples early; at least MIN_STEPS steps must still have run on this backend.
    assert run.steps >= MIN_STEPS, run.steps
    assert run.statuses.get("created", 0) > 0 and run.statuses.get("exists", 0) > 0
