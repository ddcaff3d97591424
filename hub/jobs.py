"""The hub's periodic jobs for one tenant: apply customer events, and keep every box's config fresh.

``python -m hub --db URL jobs --tenant T --mqtt-host ... [--every-s 10] [--once]`` runs, every round:

1. :func:`hub.customers.apply_events`: enrolments and customer updates from the boxes become the
   distributor's customers (consents, duplicates flagged); the sales posted before their customer was known
   are verified (:func:`hub.ingest.postings.verify_sales`) and the refunds that came before their sale are posted
   or alerted (:func:`hub.ingest.postings.sweep_waiting_refunds`); then the tiers of the customers who bought since
   the last round are reviewed (:func:`hub.tiers.recompute_tier`, upgrades at once, downgrades at the
   period's end);
2. :func:`hub.segments.saved.evaluate_due`: the segments whose rule changed or whose member list is older than
   :data:`hub.segments.saved.EVALUATE_EVERY` are evaluated again (at most
   :data:`hub.segments.saved.SEGMENTS_PER_ROUND`), so the snapshot below carries fresh memberships;
3. :func:`hub.customers.publish_to_boxes`: each store's ``customers`` snapshot (the network's customers with
   their balances from the ledger, regulars first, each with its segments) to every box of the store, when it
   changed;
4. :meth:`hub.publishing.snapshots.Publisher.publish_tenant`: each box's ``settings``, ``catalogue`` and ``stock_rules``
   (``--box-kinds``) for boxes the hub knows, when they changed (boxes new to the network get them at once);
5. :func:`hub.programs.promotions.publish_to_boxes`: the active promotion set of each store, when it changed
   (unless ``--no-promotions``).

Between the tiers (1) and the segments (2), :func:`hub.analytics.facts.load_facts` loads the sales and refunds
that arrived since the last round into the sale-line fact and its rollups (up to
:data:`FACT_BATCHES_PER_ROUND` batches), after :func:`hub.analytics.facts.ensure_partitions` once a day
(PostgreSQL: the fact's monthly partitions ahead), so the segments are evaluated on the newest facts.

A round that fails (database or broker down) is logged and retried after a pause that doubles up to
:data:`MAX_BACKOFF_S`; the loop stops on SIGTERM or SIGINT after the round in progress. A broker that cannot be
reached when the process starts is tried again the same way (a log line per attempt, the pause doubling from
:data:`CONNECT_RETRY_MIN_S` up to :data:`CONNECT_RETRY_MAX_S`), as the ingest workers do: the jobs process
never exits because the broker started after it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Final

import paho.mqtt.client as mqtt
import sqlalchemy as sa

from core.errors import InvalidInput
from core.points import PointsProgram
from hub import customers, db
from hub.analytics import facts
from hub.ingest import postings
from hub.programs import points as program_points
from hub.programs import promotions as promotions_admin
from hub.programs import tiers
from hub.publishing.retained import PublishError
from hub.publishing.snapshots import BUILT_KINDS, Publisher
from hub.segments import saved as segments

__all__ = [
    "CONNECT_RETRY_MAX_S",
    "CONNECT_RETRY_MIN_S",
    "DEFAULT_EVERY_S",
    "EVENTS_PER_ROUND",
    "FACT_BATCHES_PER_ROUND",
    "FIRST_TIER_LOOKBACK",
    "MAX_BACKOFF_S",
    "TIERS_PER_ROUND",
    "HubJobs",
    "RoundReport",
]

log = logging.getLogger(__name__)


DEFAULT_EVERY_S: Final = 10.0


MAX_BACKOFF_S: Final = 300.0


CONNECT_RETRY_MIN_S: Final = 1.0
"""First pause before trying an unreachable broker again at start."""


CONNECT_RETRY_MAX_S: Final = 60.0
"""Longest pause between two attempts to reach the broker at start (the pause doubles up to it)."""


EVENTS_PER_ROUND: Final = customers.APPLY_BATCH_MAX
"""Customer events applied per round at most (the rest wait for the next round)."""


TIERS_PER_ROUND: Final = 2_000
"""Customers whose tier is reviewed per round at most (the busiest first; the rest at the next round)."""


FACT_BATCHES_PER_ROUND: Final = 10
"""Fact loads (of :data:`hub.analytics.facts.LOAD_BATCH_MAX` sales and refunds each) per round at most: a hub
catching up on a backlog keeps its other jobs going."""


FIRST_TIER_LOOKBACK: Final = timedelta(days=1)
"""At start, the tiers of customers who bought in this window are reviewed."""


@dataclass
class RoundReport:
    """What one round did."""

    customer_events: int = 0
    sales_verified: int = 0
    refunds_posted: int = 0
    tiers_reviewed: int = 0
    segments_evaluated: int = 0
    published: int = 0
    fact_lines: int = 0
    problems: list[str] = field(default_factory=list)


class HubJobs:
    """The periodic jobs of one tenant over a connected broker client (borrowed, not closed here)."""

    def __init__(
        self,
        engine: sa.Engine,
        client: mqtt.Client,
        tenant: str,
        *,
        box_kinds: Sequence[str] = BUILT_KINDS,
        promotions: bool = True,
        tier_rules: tiers.TierRules | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``box_kinds``: which of the boxes' hub-built snapshots to keep fresh (a network whose catalogue
        is not at the hub yet sends ``settings`` only); ``promotions``: send the stores' promotion sets."""
        self.engine = engine
        self.client = client
        self.tenant = tenant
        self.box_kinds = tuple(box_kinds)
        self.promotions = promotions
        self.clock = clock
        self.tier_rules = tier_rules or tiers.TierRules()
        self.publisher = Publisher(engine, client, clock=clock)
        self._tiers_since: datetime | None = None
        self._partitions_on: date | None = None

    def run_once(self) -> RoundReport:
        report = RoundReport()
        now = self.clock()
        with db.writing(self.engine) as conn:
            applied = customers.apply_events(conn, self.tenant, now=now, limit=EVENTS_PER_ROUND)
            report.customer_events = applied.applied
        with db.writing(self.engine) as conn:
            # Sales posted before their customer was known, refunds that came before their sale: a short
            # transaction of its own, as it holds the tenant's postings lock (the ingest's) until it commits.
            report.sales_verified = postings.verify_sales(conn, self.tenant, now=now).verified
            report.refunds_posted = postings.sweep_waiting_refunds(conn, self.tenant, now=now).refunds
        with db.writing(self.engine) as conn:
            program = program_points.tenant_program(conn, self.tenant, now=now)
            report.tiers_reviewed = self._review_tiers(conn, program, now)
        report.fact_lines = self._load_facts(now)
        with db.writing(self.engine) as conn:
            evaluations = segments.evaluate_due(conn, self.tenant, now=now)
            report.segments_evaluated = len(evaluations)
            report.problems += [f"segment {e.segment}: {e.error}" for e in evaluations if e.error]
        outcomes = list(self.publisher.publish_tenant(self.tenant, self.box_kinds)) if self.box_kinds else []
        outcomes += customers.publish_to_boxes(self.publisher, self.tenant, program, now=now)
        promotions = (
            promotions_admin.publish_to_boxes(self.engine, self.client, self.tenant, now=now) if self.promotions else []
        )
        report.published = sum(1 for o in outcomes if o.version is not None and not o.unchanged)
        report.published += sum(1 for p in promotions if p.version is not None and not p.unchanged)
        report.problems += [f"{o.device} {o.kind}: {o.error}" for o in outcomes if o.error]
        report.problems += [f"{p.device} promotions: {p.error}" for p in promotions if p.error]
        return report

    def _load_facts(self, now: datetime) -> int:
        if self._partitions_on != now.date():
            with db.writing(self.engine) as conn:
                facts.ensure_partitions(conn, now=now)
            self._partitions_on = now.date()
        lines = 0
        for _ in range(FACT_BATCHES_PER_ROUND):
            with db.writing(self.engine) as conn:
                loaded = facts.load_facts(conn, self.tenant, now=now)
            lines += loaded.lines
            if not loaded.more:
                break
        return lines

    def _review_tiers(self, conn: sa.Connection, program: PointsProgram, now: datetime) -> int:
        since = self._tiers_since or now - FIRST_TIER_LOOKBACK
        s = db.sale
        buyers = (
            conn.execute(
                sa.select(s.c.customer)
                .where(s.c.tenant == self.tenant, s.c.customer.is_not(None), s.c.received_at >= since)
                .group_by(s.c.customer)
                .order_by(sa.func.count().desc(), s.c.customer)
                .limit(TIERS_PER_ROUND)
            )
            .scalars()
            .all()
        )  # read to the end first: a statement left open would pin an old snapshot
        reviewed = 0
        for loyalty_id in buyers:
            try:
                with conn.begin_nested():
                    tiers.recompute_tier(conn, self.tenant, loyalty_id, program, self.tier_rules, now=now)
            except InvalidInput as exc:  # not known at the hub yet, or erased: reviewed when it is
                log.debug("%s: tier of %s not reviewed: %s", self.tenant, loyalty_id, exc)
                continue
            reviewed += 1
        self._tiers_since = now
        return reviewed

    def run(self, stop: threading.Event, every_s: float = DEFAULT_EVERY_S) -> None:
        """Run rounds every ``every_s`` until ``stop`` is set."""
        pause = every_s
        while not stop.is_set():
            try:
                report = self.run_once()
            except (sa.exc.SQLAlchemyError, PublishError, OSError) as exc:
                pause = min(pause * 2, MAX_BACKOFF_S)
                log.error("%s: jobs round failed (%s); next try in %.0f s", self.tenant, db.one_line(exc), pause)
            else:
                pause = every_s
                if report.customer_events or report.published or report.problems:
                    log.info(
                        "%s: %d customer events applied, %d tiers reviewed, %d snapshots published%s",
                        self.tenant,
                        report.customer_events,
                        report.tiers_reviewed,
                        report.published,
                        f"; problems: {'; '.join(report.problems)}" if report.problems else "",
                    )
            stop.wait(pause)
