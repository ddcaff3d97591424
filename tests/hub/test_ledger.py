"""The points ledger by example, on SQLite and PostgreSQL: transfers, holds, lots, expiry, refunds, settlement."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.errors import InvalidInput
from core.points import PointsProgram, Redemption
from devkit.services import PostgresServer
from hub import db
from hub import ledger as lg
from hub.ledger import reports as rep

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
TENANT = "acme"
PROGRAM = "club"
# 100 points pay 10.00 MXN: one point is worth 10 minor units.
CLUB = PointsProgram(
    id=PROGRAM, name="Club", currency="MXN", redemption=Redemption(points_per_step=100, value_minor_per_step=1000)
)


def acct(kind: lg.Kind, owner: str) -> uuid.UUID:
    return lg.account_id(TENANT, PROGRAM, kind, owner)


ANA = acct(lg.Kind.CUSTOMER, "ana")
BEA = acct(lg.Kind.CUSTOMER, "bea")
DIST = acct(lg.Kind.ISSUANCE, lg.DISTRIBUTOR)
ISS_A = acct(lg.Kind.ISSUANCE, "shop-a")
SHOP_A = acct(lg.Kind.RETAILER, "shop-a")
SHOP_B = acct(lg.Kind.RETAILER, "shop-b")
ADJ = acct(lg.Kind.ADJUSTMENT, lg.DISTRIBUTOR)


@pytest.fixture
def conn(hub_engine: Engine) -> Iterator[Connection]:
    with hub_engine.begin() as c:
        lg.register_program(c, TENANT, CLUB, lot_expiry_months=12, now=T0)
        lg.open_accounts(
            c,
            [
                lg.AccountSpec(TENANT, PROGRAM, lg.Kind.CUSTOMER, "ana", floor_points=-50),
                lg.AccountSpec(TENANT, PROGRAM, lg.Kind.CUSTOMER, "bea"),
                lg.AccountSpec(TENANT, PROGRAM, lg.Kind.ISSUANCE, lg.DISTRIBUTOR),
                lg.AccountSpec(TENANT, PROGRAM, lg.Kind.ISSUANCE, "shop-a"),
                lg.AccountSpec(TENANT, PROGRAM, lg.Kind.RETAILER, "shop-a"),
                lg.AccountSpec(TENANT, PROGRAM, lg.Kind.RETAILER, "shop-b"),
                lg.AccountSpec(TENANT, PROGRAM, lg.Kind.ADJUSTMENT, lg.DISTRIBUTOR),
            ],
            now=T0,
        )
        yield c
        assert rep.check_ledger(c, TENANT, PROGRAM) == []


def tid() -> uuid.UUID:
    return uuid.uuid4()


def earn(
    points: int, to: uuid.UUID = ANA, funder: uuid.UUID = DIST, at: datetime = T0, id: uuid.UUID | None = None
) -> lg.Transfer:
    return lg.Transfer(id or tid(), funder, to, points, lg.Code.EARN, "sale-1", effective_at=at)


def redeem(
    points: int, at_shop: uuid.UUID = SHOP_B, who: uuid.UUID = ANA, flags: lg.TransferFlag = lg.TransferFlag.NONE
) -> lg.Transfer:
    return lg.Transfer(tid(), who, at_shop, points, lg.Code.REDEEM, "sale-2", flags=flags)


def apply(conn: Connection, *transfers: lg.Transfer, now: datetime = T0) -> list[lg.Status]:
    return [r.status for r in lg.apply_transfers(conn, list(transfers), now=now)]


def lots(conn: Connection, account: uuid.UUID) -> list[tuple[Any, ...]]:
    t = db.ledger_lot
    rows = conn.execute(
        sa.select(t.c.funder, t.c.points, t.c.remaining)
        .where(t.c.account_id == account)
        .order_by(t.c.earned_at, t.c.points)
    )
    return [tuple(r) for r in rows]


def test_an_earn_moves_points_from_the_funder_to_the_customer_and_forms_a_lot(conn: Connection) -> None:
    assert apply(conn, earn(120)) == [lg.Status.CREATED]
    assert lg.balance(conn, ANA).posted == 120
    assert lg.balance(conn, DIST).posted == -120
    assert lots(conn, ANA) == [(lg.DISTRIBUTOR, 120, 120)]


def test_replaying_a_transfer_changes_nothing_and_a_changed_replay_is_refused(conn: Connection) -> None:
    first = earn(120)
    assert apply(conn, first) == [lg.Status.CREATED]
    assert apply(conn, first, first) == [lg.Status.EXISTS, lg.Status.EXISTS]
    changed = lg.Transfer(first.id, DIST, ANA, 121, lg.Code.EARN, "sale-1", effective_at=T0)
    assert apply(conn, changed) == [lg.Status.EXISTS_WITH_DIFFERENT_FIELDS]
    assert lg.balance(conn, ANA).posted == 120


def test_a_duplicate_inside_one_batch_is_applied_once(conn: Connection) -> None:
    first = earn(40)
    assert apply(conn, first, first) == [lg.Status.CREATED, lg.Status.EXISTS]
    assert lg.balance(conn, ANA).posted == 40


def test_bad_transfers_are_refused_one_by_one_without_stopping_the_batch(conn: Connection) -> None:
    other = lg.account_id(TENANT, "other", lg.Kind.CUSTOMER, "ana")
    statuses = apply(
        conn,
        lg.Transfer(tid(), DIST, DIST, 5, lg.Code.EARN),
        lg.Transfer(tid(), DIST, ANA, 0, lg.Code.EARN),
        lg.Transfer(tid(), DIST, other, 5, lg.Code.EARN),
        lg.Transfer(tid(), DIST, ANA, 5, lg.Code.EARN, flags=lg.TransferFlag.PENDING | lg.TransferFlag.POST_PENDING),
        earn(7),
    )
    assert statuses == [
        lg.Status.ACCOUNTS_MUST_BE_DIFFERENT,
        lg.Status.AMOUNT_MUST_BE_POSITIVE,
        lg.Status.CREDIT_ACCOUNT_NOT_FOUND,
        lg.Status.INVALID_FLAGS,
        lg.Status.CREATED,
    ]
    assert lg.balance(conn, ANA).posted == 7


def test_an_online_redemption_beyond_the_floor_is_refused(conn: Connection) -> None:
    apply(conn, earn(100), earn(30, to=BEA))
    assert apply(conn, redeem(151)) == [lg.Status.EXCEEDS_FLOOR]  # ana's floor is -50
    assert apply(conn, redeem(150)) == [lg.Status.CREATED]
    assert apply(conn, redeem(31, who=BEA)) == [lg.Status.EXCEEDS_FLOOR]
    assert lg.balance(conn, ANA).posted == -50 and lg.balance(conn, ANA).lot_debt_points == 50


def test_redemption_spends_the_lots_that_expire_first(conn: Connection) -> None:
    apply(conn, earn(100, at=T0), earn(50, funder=ISS_A, at=T0 + timedelta(days=30)))
    apply(conn, redeem(120), now=T0 + timedelta(days=40))
    assert lots(conn, ANA) == [(lg.DISTRIBUTOR, 100, 0), ("shop-a", 50, 30)]


def test_an_offline_hold_within_the_allowance_is_posted_later(conn: Connection) -> None:
    apply(conn, earn(100))
    hold = redeem(130, flags=lg.TransferFlag.PENDING | lg.TransferFlag.OFFLINE)
    assert apply(conn, hold) == [lg.Status.CREATED]
    assert lg.balance(conn, ANA).available == -30 and lg.balance(conn, ANA).posted == 100
    post = lg.Transfer(tid(), None, None, None, lg.Code.REDEEM, pending_id=hold.id, flags=lg.TransferFlag.POST_PENDING)
    assert apply(conn, post) == [lg.Status.CREATED]
    assert lg.balance(conn, ANA).posted == -30 and lg.balance(conn, ANA).debits_pending == 0
    assert rep.open_overdrafts(conn, TENANT) == []
    again = lg.Transfer(tid(), None, None, None, lg.Code.REDEEM, pending_id=hold.id, flags=lg.TransferFlag.VOID_PENDING)
    assert apply(conn, again) == [lg.Status.PENDING_ALREADY_POSTED]


def test_a_void_releases_the_hold_and_a_partial_post_releases_the_rest(conn: Connection) -> None:
    apply(conn, earn(100))
    h1 = redeem(60, flags=lg.TransferFlag.PENDING)
    h2 = redeem(40, flags=lg.TransferFlag.PENDING)
    apply(conn, h1, h2)
    assert apply(conn, redeem(51)) == [lg.Status.EXCEEDS_FLOOR]
    void = lg.Transfer(tid(), None, None, None, lg.Code.REDEEM, pending_id=h1.id, flags=lg.TransferFlag.VOID_PENDING)
    part = lg.Transfer(tid(), None, None, 25, lg.Code.REDEEM, pending_id=h2.id, flags=lg.TransferFlag.POST_PENDING)
    too_much = lg.Transfer(tid(), None, None, 41, lg.Code.REDEEM, pending_id=h2.id, flags=lg.TransferFlag.POST_PENDING)
    assert apply(conn, too_much, void, part) == [lg.Status.EXCEEDS_PENDING_AMOUNT, lg.Status.CREATED, lg.Status.CREATED]
    assert lg.balance(conn, ANA).posted == 75 and lg.balance(conn, ANA).available == 75
    missing = lg.Transfer(tid(), None, None, None, lg.Code.REDEEM, pending_id=tid(), flags=lg.TransferFlag.VOID_PENDING)
    assert apply(conn, missing) == [lg.Status.PENDING_NOT_FOUND]


def test_an_offline_redemption_beyond_the_allowance_is_accepted_and_flagged(conn: Connection) -> None:
    apply(conn, earn(10))
    hold = redeem(100, flags=lg.TransferFlag.PENDING | lg.TransferFlag.OFFLINE)
    assert apply(conn, hold) == [lg.Status.CREATED]
    [flag] = rep.open_overdrafts(conn, TENANT)
    assert (flag.transfer_id, flag.owner, flag.available_points, flag.shortfall_points) == (hold.id, "ana", -90, 40)
    rep.resolve_overdraft(conn, flag.id, now=T0)
    assert rep.open_overdrafts(conn, TENANT) == []
    with pytest.raises(InvalidInput):
        rep.resolve_overdraft(conn, flag.id, now=T0)


def test_a_refund_reverses_the_earn_taking_back_its_own_lot_first(conn: Connection) -> None:
    old, new = earn(100, at=T0), earn(50, at=T0 + timedelta(days=5))
    apply(conn, old, new)
    back = lg.Transfer(tid(), ANA, DIST, 50, lg.Code.REVERSE, str(new.id))
    assert apply(conn, back) == [lg.Status.CREATED]
    assert lots(conn, ANA) == [(lg.DISTRIBUTOR, 100, 100), (lg.DISTRIBUTOR, 50, 0)]
    more = lg.Transfer(tid(), ANA, DIST, 1, lg.Code.REVERSE, str(new.id))
    wrong = lg.Transfer(tid(), ANA, ISS_A, 1, lg.Code.REVERSE, str(old.id))
    assert apply(conn, more, wrong) == [lg.Status.REVERSAL_EXCEEDS_ORIGINAL, lg.Status.REVERSAL_ACCOUNTS_DIFFER]


def test_reversing_a_redemption_gives_back_the_lots_it_spent(conn: Connection) -> None:
    apply(conn, earn(30, at=T0), earn(70, funder=ISS_A, at=T0 + timedelta(days=1)))
    spend = redeem(60)
    apply(conn, spend)
    assert lots(conn, ANA) == [(lg.DISTRIBUTOR, 30, 0), ("shop-a", 70, 40)]
    assert apply(conn, lg.Transfer(tid(), SHOP_B, ANA, 45, lg.Code.REVERSE, str(spend.id))) == [lg.Status.CREATED]
    # The latest-expiring lot comes back first.
    assert lots(conn, ANA) == [(lg.DISTRIBUTOR, 30, 15), ("shop-a", 70, 70)]


def test_a_refund_of_points_already_spent_leaves_a_debt_that_the_next_earn_pays(conn: Connection) -> None:
    first = earn(100)
    apply(conn, first, redeem(100))
    refund = lg.Transfer(tid(), ANA, DIST, 100, lg.Code.REVERSE, str(first.id))
    assert apply(conn, refund) == [lg.Status.EXCEEDS_FLOOR]
    forced = lg.Transfer(tid(), ANA, DIST, 100, lg.Code.REVERSE, str(first.id), flags=lg.TransferFlag.OFFLINE)
    assert apply(conn, forced) == [lg.Status.CREATED]
    assert lg.balance(conn, ANA).lot_debt_points == 100 and len(rep.open_overdrafts(conn, TENANT)) == 1
    apply(conn, earn(130))
    assert lg.balance(conn, ANA).posted == 30 and lg.balance(conn, ANA).lot_debt_points == 0
    assert lots(conn, ANA)[-1] == (lg.DISTRIBUTOR, 130, 30)


def test_expiry_moves_unspent_points_of_due_lots_once(conn: Connection) -> None:
    apply(conn, earn(100, at=T0), earn(40, at=T0 + timedelta(days=60)))
    apply(conn, redeem(30))
    later = T0 + timedelta(days=370)  # the first lot expired (12 months), the second not yet
    [result] = lg.expire_lots(conn, TENANT, PROGRAM, now=later)
    assert result.status is lg.Status.CREATED
    assert lg.expire_lots(conn, TENANT, PROGRAM, now=later) == []
    assert lg.balance(conn, ANA).posted == 40
    assert lg.balance(conn, acct(lg.Kind.EXPIRED, lg.DISTRIBUTOR)).posted == 70
    assert lots(conn, ANA) == [(lg.DISTRIBUTOR, 100, 0), (lg.DISTRIBUTOR, 40, 40)]


def test_expiry_leaves_points_a_hold_reserves(conn: Connection) -> None:
    apply(conn, earn(100))
    hold = redeem(80, flags=lg.TransferFlag.PENDING)
    apply(conn, hold)
    [result] = lg.expire_lots(conn, TENANT, PROGRAM, now=T0 + timedelta(days=400))
    assert result.ok and lg.balance(conn, ANA).posted == 80
    post = lg.Transfer(tid(), None, None, None, lg.Code.REDEEM, pending_id=hold.id, flags=lg.TransferFlag.POST_PENDING)
    assert apply(conn, post, now=T0 + timedelta(days=401)) == [lg.Status.CREATED]
    assert lg.balance(conn, ANA).posted == 0 and lg.balance(conn, ANA).lot_debt_points == 0


def test_lot_expiry_counts_calendar_months_from_the_sale(conn: Connection) -> None:
    assert lg.add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert lg.add_months(datetime(2026, 11, 15, tzinfo=UTC), 14) == datetime(2028, 1, 15, tzinfo=UTC)
    apply(conn, earn(10, at=datetime(2026, 1, 31, tzinfo=UTC)))
    expiry = conn.execute(sa.select(db.ledger_lot.c.expires_at)).scalar_one()
    assert lg.as_utc(expiry) == datetime(2027, 1, 31, tzinfo=UTC)


def test_sale_transfers_are_idempotent_by_event_id_and_split_by_funder(conn: Connection) -> None:
    event = uuid.uuid4()
    lg.open_accounts(conn, lg.sale_accounts(TENANT, PROGRAM, "shop-a", "carla", allowance_points=20), now=T0)
    sale = lg.sale_transfers(
        tenant=TENANT,
        program=PROGRAM,
        event_id=event,
        retailer="shop-a",
        customer="carla",
        distributor_points=8,
        retailer_points=2,
        redeemed_points=25,
        offline_hold_points=15,
    )
    assert apply(conn, *sale) == [lg.Status.CREATED] * 4
    assert (
        apply(
            conn,
            *lg.sale_transfers(
                tenant=TENANT,
                program=PROGRAM,
                event_id=event,
                retailer="shop-a",
                customer="carla",
                distributor_points=8,
                retailer_points=2,
                redeemed_points=25,
                offline_hold_points=15,
            ),
        )
        == [lg.Status.EXISTS] * 4
    )
    carla = lg.balance(conn, acct(lg.Kind.CUSTOMER, "carla"))
    assert (carla.posted, carla.debits_pending, carla.available) == (0, 15, -15)
    with pytest.raises(InvalidInput):
        lg.sale_transfers(
            tenant=TENANT,
            program=PROGRAM,
            event_id=event,
            retailer="shop-a",
            customer="carla",
            distributor_points=0,
            retailer_points=0,
            redeemed_points=1,
            offline_hold_points=2,
        )


def test_a_batch_larger_than_the_bound_is_refused_whole(conn: Connection) -> None:
    with pytest.raises(InvalidInput, match="split the batch"):
        lg.apply_transfers(conn, [earn(1)] * (lg.BATCH_MAX + 1), now=T0)


def test_settlement_says_in_money_who_owes_whom_and_balances_to_zero(conn: Connection) -> None:
    # Ana earns 300 distributor points and 200 points of shop A's own promotion at shop A, then spends 400 at
    # shop B: the lots expiring first go first (the distributor's 300, then 100 of shop A's).
    apply(conn, earn(300, at=T0), earn(200, funder=ISS_A, at=T0 + timedelta(hours=1)))
    apply(conn, redeem(400, at_shop=SHOP_B), now=T0 + timedelta(days=2))
    # Bea redeems 50 of her own distributor points at shop A.
    apply(conn, earn(50, to=BEA), redeem(50, at_shop=SHOP_A, who=BEA), now=T0 + timedelta(days=3))
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    statement = rep.settle_period(conn, TENANT, PROGRAM, period_start=start, period_end=end, now=end)
    a, b, d = statement.line("shop-a"), statement.line("shop-b"), statement.line(lg.DISTRIBUTOR)
    # One point is worth 10 minor units (0.10 MXN).
    assert (a.accepted_points, a.funded_points, a.owed_to_party_minor, a.owed_by_party_minor, a.net_minor) == (
        50,
        100,
        500,
        1000,
        -500,
    )
    assert (b.accepted_points, b.funded_points, b.net_minor) == (400, 0, 4000)
    assert (d.funded_points, d.net_minor) == (350, -3500)
    assert sum(line.net_minor for line in statement.lines) == 0
    assert statement.currency == "MXN"
    # The retailers' accounts are emptied into clearing, and clearing nets to zero.
    assert lg.balance(conn, SHOP_B).posted == 0 and lg.balance(conn, SHOP_A).posted == 0
    assert lg.balance(conn, acct(lg.Kind.CLEARING, lg.DISTRIBUTOR)).posted == 0
    # Closing the same period again returns the same statement and posts nothing new.
    count = conn.execute(sa.select(sa.func.count()).select_from(db.ledger_transfer)).scalar_one()
    assert (
        rep.settle_period(conn, TENANT, PROGRAM, period_start=start, period_end=end, now=end + timedelta(days=1))
        == statement
    )
    assert conn.execute(sa.select(sa.func.count()).select_from(db.ledger_transfer)).scalar_one() == count
    with pytest.raises(rep.PeriodConflict):
        rep.settle_period(
            conn,
            TENANT,
            PROGRAM,
            period_start=start + timedelta(days=10),
            period_end=end + timedelta(days=1),
            now=end + timedelta(days=2),
        )
    with pytest.raises(rep.PeriodConflict):
        rep.settle_period(conn, TENANT, PROGRAM, period_start=end, period_end=end + timedelta(days=30), now=end)


def test_overdrafted_points_are_charged_to_the_distributor_at_settlement(conn: Connection) -> None:
    apply(conn, earn(20, funder=ISS_A), redeem(60, at_shop=SHOP_B, flags=lg.TransferFlag.OFFLINE))
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    statement = rep.settle_period(conn, TENANT, PROGRAM, period_start=start, period_end=end, now=end)
    assert statement.line("shop-b").net_minor == 600
    assert statement.line("shop-a").net_minor == -200
    assert statement.line(lg.DISTRIBUTOR).funded_points == 40 and statement.line(lg.DISTRIBUTOR).net_minor == -400


def test_the_liability_report_values_unspent_points_per_funder(conn: Connection) -> None:
    apply(conn, earn(300), earn(200, funder=ISS_A, at=T0 + timedelta(days=1)), earn(10, to=BEA))
    apply(conn, redeem(100, at_shop=SHOP_B), redeem(20, flags=lg.TransferFlag.PENDING))
    report = rep.liability(conn, TENANT, PROGRAM)
    assert report.outstanding_points == 410 and report.outstanding_minor == 4100
    assert report.by_funder_points == {lg.DISTRIBUTOR: 210, "shop-a": 200}
    assert report.by_funder_minor == {lg.DISTRIBUTOR: 2100, "shop-a": 2000}
    assert report.held_points == 20 and report.unsettled_points == 100 and report.unsettled_minor == 1000


def test_an_unregistered_program_is_named(hub_engine: Engine) -> None:
    with hub_engine.begin() as c, pytest.raises(lg.UnknownProgram, match="register_program"):
        lg.open_accounts(c, [lg.AccountSpec(TENANT, "nope", lg.Kind.CUSTOMER, "x")], now=T0)


def test_the_consistency_check_reports_a_broken_balance(conn: Connection) -> None:
    apply(conn, earn(10))
    conn.execute(sa.update(db.ledger_account).where(db.ledger_account.c.id == ANA).values(credits_posted=11))
    problems = rep.check_ledger(conn, TENANT, PROGRAM)
    assert any("debits and credits differ" in p for p in problems)
    assert any("customer ana" in p for p in problems)
    conn.execute(sa.update(db.ledger_account).where(db.ledger_account.c.id == ANA).values(credits_posted=10))


@pytest.mark.postgres
def test_concurrent_batches_on_the_same_accounts_lose_no_update(pg_server: PostgresServer) -> None:
    engine = db.make_engine(pg_server.create_database(f"ledger_concurrent_{uuid.uuid4().hex[:8]}"))
    db.migrate(engine)
    customers = [f"c{n}" for n in range(20)]
    with engine.begin() as c:
        lg.register_program(c, TENANT, CLUB, lot_expiry_months=12, now=T0)
        lg.open_accounts(c, [lg.AccountSpec(TENANT, PROGRAM, lg.Kind.ISSUANCE, lg.DISTRIBUTOR)], now=T0)
        lg.open_accounts(c, [lg.AccountSpec(TENANT, PROGRAM, lg.Kind.CUSTOMER, n) for n in customers], now=T0)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            for batch in range(10):
                transfers = [
                    lg.Transfer(tid(), DIST, acct(lg.Kind.CUSTOMER, name), 1 + (seed + batch) % 3, lg.Code.EARN)
                    for name in (customers if seed % 2 else reversed(customers))
                ]
                with engine.begin() as c:
                    assert all(r.ok for r in lg.apply_transfers(c, transfers, now=T0))
        except BaseException as exc:  # handed to the test thread, which fails with it
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    expected = sum(1 + (seed + batch) % 3 for seed in range(4) for batch in range(10))
    with engine.begin() as c:
        assert rep.check_ledger(c, TENANT, PROGRAM) == []
        assert all(lg.balance(c, acct(lg.Kind.CUSTOMER, n)).posted == expected for n in customers)
    engine.dispose()
