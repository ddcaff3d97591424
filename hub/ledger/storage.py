"""How the ledger reads and writes its rows: plain statements (:class:`_IO`, SQLite and PostgreSQL alike) and,
on PostgreSQL, a handful of round trips per batch whatever its size (:class:`_PgIO`: array reads, ``COPY``
writes, one ``UPDATE .. FROM unnest`` per table).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db
from hub.ledger.model import _USE_KINDS, _Account, _Lot, _Stored, as_utc


class _IO:
    """Reads and writes of one apply call through SQLAlchemy statements (SQLite); PostgreSQL overrides them."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def load_transfers(self, ids: set[uuid.UUID], pending_refs: set[uuid.UUID]) -> Iterable[_Stored]:
        t = db.ledger_transfer
        cond: sa.ColumnElement[bool] = t.c.id.in_(ids)
        if pending_refs:
            cond = sa.or_(cond, t.c.pending_id.in_(pending_refs))
        for r in self.conn.execute(sa.select(*_TRANSFER_COLUMNS).where(cond)):
            yield _stored(r)

    def reversed_totals(self, originals: set[uuid.UUID]) -> dict[uuid.UUID, int]:
        t = db.ledger_transfer
        refs = [str(o) for o in originals]
        rows = self.conn.execute(
            sa.select(t.c.ref, sa.func.sum(t.c.amount))
            .where(t.c.code == sa.literal_column("'reverse'"), t.c.ref.in_(refs))  # matches the partial index
            .group_by(t.c.ref)
        )
        return {uuid.UUID(ref): int(total) for ref, total in rows}

    def load_uses(self, originals: set[uuid.UUID]) -> dict[uuid.UUID, dict[uuid.UUID, list[int]]]:
        u = db.ledger_lot_use
        out: dict[uuid.UUID, dict[uuid.UUID, list[int]]] = {}
        rows = self.conn.execute(
            sa.select(u.c.for_transfer_id, u.c.lot_id, u.c.kind, sa.func.sum(u.c.amount))
            .where(u.c.for_transfer_id.in_(originals), u.c.kind != "debt")
            .group_by(u.c.for_transfer_id, u.c.lot_id, u.c.kind)
        )
        for for_id, lot_id, kind, total in rows:
            out.setdefault(for_id, {})[lot_id] = [int(total), _USE_KINDS.index(kind)]
        return out

    def lock_accounts(self, ids: set[uuid.UUID]) -> Iterable[_Account]:
        a, p = db.ledger_account, db.ledger_program
        stmt = (
            sa.select(*a.c, p.c.lot_expiry_months)
            .join(p, sa.and_(p.c.tenant == a.c.tenant, p.c.program == a.c.program))
            .where(a.c.id.in_(ids))
            .order_by(a.c.id)
            .with_for_update(of=a)
        )
        for r in self.conn.execute(stmt):
            yield _Account(
                r.id,
                r.tenant,
                r.program,
                r.kind,
                r.owner,
                r.floor_points,
                r.flags,
                r.debits_pending,
                r.debits_posted,
                r.credits_pending,
                r.credits_posted,
                r.lot_debt_points,
                r.lot_expiry_months,
            )

    def load_lots(self, accounts: set[uuid.UUID], ids: set[uuid.UUID]) -> Iterable[_Lot]:
        lot = db.ledger_lot
        cond: sa.ColumnElement[bool] = sa.and_(lot.c.account_id.in_(accounts), lot.c.remaining > 0)
        if ids:
            cond = sa.or_(cond, lot.c.id.in_(ids))
        for r in self.conn.execute(sa.select(lot).where(cond)):
            yield _Lot(
                r.id,
                r.account_id,
                r.transfer_id,
                r.funder,
                r.points,
                r.remaining,
                r.expired_points,
                as_utc(r.earned_at),
                None if r.expires_at is None else as_utc(r.expires_at),
            )

    def insert_transfers(self, rows: list[_Stored], now: datetime) -> None:
        self.conn.execute(
            db.ledger_transfer.insert(),
            [
                {
                    "id": s.id,
                    "tenant": s.tenant,
                    "program": s.program,
                    "debit_account_id": s.debit,
                    "credit_account_id": s.credit,
                    "amount": s.amount,
                    "code": s.code,
                    "ref": s.ref,
                    "pending_id": s.pending_id,
                    "flags": s.flags,
                    "state": s.state,
                    "effective_at": s.effective_at,
                    "created_at": now,
                }
                for s in rows
            ],
        )

    def update_accounts(self, accounts: list[_Account]) -> None:
        a = db.ledger_account
        self.conn.execute(
            sa.update(a)
            .where(a.c.id == sa.bindparam("b_id"))
            .values(
                debits_pending=sa.bindparam("b_dp"),
                debits_posted=sa.bindparam("b_dpo"),
                credits_pending=sa.bindparam("b_cp"),
                credits_posted=sa.bindparam("b_cpo"),
                lot_debt_points=sa.bindparam("b_debt"),
            ),
            [
                {"b_id": x.id, "b_dp": x.dp, "b_dpo": x.dpo, "b_cp": x.cp, "b_cpo": x.cpo, "b_debt": x.debt}
                for x in accounts
            ],
        )

    def insert_lots(self, lots: list[_Lot]) -> None:
        self.conn.execute(
            db.ledger_lot.insert(),
            [
                {
                    "id": x.id,
                    "account_id": x.account_id,
                    "transfer_id": x.transfer_id,
                    "funder": x.funder,
                    "points": x.points,
                    "remaining": x.remaining,
                    "expired_points": x.expired,
                    "earned_at": x.earned_at,
                    "expires_at": x.expires_at,
                }
                for x in lots
            ],
        )

    def update_lots(self, lots: list[_Lot]) -> None:
        t = db.ledger_lot
        self.conn.execute(
            sa.update(t)
            .where(t.c.id == sa.bindparam("b_id"))
            .values(remaining=sa.bindparam("b_rem"), expired_points=sa.bindparam("b_exp")),
            [{"b_id": x.id, "b_rem": x.remaining, "b_exp": x.expired} for x in lots],
        )

    def insert_uses(self, uses: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str, int]]) -> None:
        self.conn.execute(
            db.ledger_lot_use.insert(),
            [
                {"for_transfer_id": f, "lot_id": lot, "transfer_id": t, "kind": k, "amount": n}
                for f, lot, t, k, n in uses
            ],
        )


_TRANSFER_COLUMNS: Final = tuple(
    db.ledger_transfer.c[name]
    for name in (
        "id",
        "tenant",
        "program",
        "debit_account_id",
        "credit_account_id",
        "amount",
        "code",
        "ref",
        "pending_id",
        "flags",
        "state",
        "effective_at",
    )
)


def _stored(r: Any) -> _Stored:
    return _Stored(r[0], r[1], r[2], r[3], r[4], int(r[5]), r[6], r[7], r[8], int(r[9]), r[10], as_utc(r[11]))


_TRANSFER_TYPES: Final = (
    "uuid",
    "text",
    "text",
    "uuid",
    "uuid",
    "int8",
    "text",
    "text",
    "uuid",
    "int4",
    "text",
    "timestamptz",
    "timestamptz",
)


_LOT_TYPES: Final = ("uuid", "uuid", "uuid", "text", "int8", "int8", "int8", "timestamptz", "timestamptz")


_USE_TYPES: Final = ("uuid", "uuid", "uuid", "text", "int8")


class _PgIO(_IO):
    """PostgreSQL: id lists as arrays, new rows through COPY, changed rows in one UPDATE .. FROM unnest."""

    @staticmethod
    def _array(values: Iterable[object]) -> str:
        # An array literal travels as one text value: much cheaper than adapting each element.
        return "{" + ",".join(map(str, values)) + "}"

    def _cursor(self) -> Any:
        # Binary results: uuids and timestamps arrive without text parsing.
        return self.conn.connection.driver_connection.cursor(binary=True)  # type: ignore[union-attr]

    def load_transfers(self, ids: set[uuid.UUID], pending_refs: set[uuid.UUID]) -> Iterable[_Stored]:
        sql = (
            "SELECT id, tenant, program, debit_account_id, credit_account_id, amount, code, ref, pending_id, flags, "
            "state, effective_at FROM ledger_transfer WHERE id = ANY(%s::uuid[])"
        )
        args: list[Any] = [self._array(ids)]
        if pending_refs:
            sql += " OR pending_id = ANY(%s::uuid[])"
            args.append(self._array(pending_refs))
        with self._cursor() as cur:
            cur.execute(sql, args)
            rows = cur.fetchall()
        return [_stored(r) for r in rows]

    def lock_accounts(self, ids: set[uuid.UUID]) -> Iterable[_Account]:
        with self._cursor() as cur:
            cur.execute(
                "SELECT a.id, a.tenant, a.program, a.kind, a.owner, a.floor_points, a.flags, a.debits_pending, "
                "a.debits_posted, a.credits_pending, a.credits_posted, a.lot_debt_points, p.lot_expiry_months "
                "FROM ledger_account a JOIN ledger_program p ON p.tenant = a.tenant AND p.program = a.program "
                "WHERE a.id = ANY(%s::uuid[]) ORDER BY a.id FOR UPDATE OF a",
                [self._array(ids)],
            )
            rows = cur.fetchall()
        return [_Account(*r) for r in rows]

    def load_lots(self, accounts: set[uuid.UUID], ids: set[uuid.UUID]) -> Iterable[_Lot]:
        sql = (
            "SELECT id, account_id, transfer_id, funder, points, remaining, expired_points, earned_at, expires_at "
            "FROM ledger_lot WHERE account_id = ANY(%s::uuid[]) AND remaining > 0"
        )
        args = [self._array(accounts)]
        if ids:
            # A separate branch keeps the index on account_id usable.
            sql += " UNION SELECT id, account_id, transfer_id, funder, points, remaining, expired_points, earned_at, "
            sql += "expires_at FROM ledger_lot WHERE id = ANY(%s::uuid[])"
            args.append(self._array(ids))
        with self._cursor() as cur:
            cur.execute(sql, args)
            rows = cur.fetchall()
        return [_Lot(*r) for r in rows]

    def _copy(self, table: str, columns: str, types: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        # Binary COPY: no text formatting here and no text parsing in the server (several times faster).
        with self._cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    def insert_transfers(self, rows: list[_Stored], now: datetime) -> None:
        self._copy(
            "ledger_transfer",
            "id, tenant, program, debit_account_id, credit_account_id, amount, code, ref, pending_id, flags, state, "
            "effective_at, created_at",
            _TRANSFER_TYPES,
            (
                (
                    s.id,
                    s.tenant,
                    s.program,
                    s.debit,
                    s.credit,
                    s.amount,
                    s.code,
                    s.ref,
                    s.pending_id,
                    s.flags,
                    s.state,
                    s.effective_at,
                    now,
                )
                for s in rows
            ),
        )

    def insert_lots(self, lots: list[_Lot]) -> None:
        self._copy(
            "ledger_lot",
            "id, account_id, transfer_id, funder, points, remaining, expired_points, earned_at, expires_at",
            _LOT_TYPES,
            (
                (
                    x.id,
                    x.account_id,
                    x.transfer_id,
                    x.funder,
                    x.points,
                    x.remaining,
                    x.expired,
                    x.earned_at,
                    x.expires_at,
                )
                for x in lots
            ),
        )

    def insert_uses(self, uses: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str, int]]) -> None:
        self._copy("ledger_lot_use", "for_transfer_id, lot_id, transfer_id, kind, amount", _USE_TYPES, uses)

    def update_accounts(self, accounts: list[_Account]) -> None:
        with self._cursor() as cur:
            cur.execute(
                "UPDATE ledger_account a SET debits_pending = v.dp, debits_posted = v.dpo, credits_pending = v.cp, "
                "credits_posted = v.cpo, lot_debt_points = v.debt FROM unnest(%s::uuid[], %s::int8[], %s::int8[], "
                "%s::int8[], %s::int8[], %s::int8[]) AS v(id, dp, dpo, cp, cpo, debt) WHERE a.id = v.id",
                [
                    self._array(x.id for x in accounts),
                    self._array(x.dp for x in accounts),
                    self._array(x.dpo for x in accounts),
                    self._array(x.cp for x in accounts),
                    self._array(x.cpo for x in accounts),
                    self._array(x.debt for x in accounts),
                ],
            )

    def update_lots(self, lots: list[_Lot]) -> None:
        with self._cursor() as cur:
            cur.execute(
                "UPDATE ledger_lot l SET remaining = v.rem, expired_points = v.exp "
                "FROM unnest(%s::uuid[], %s::int8[], %s::int8[]) AS v(id, rem, exp) WHERE l.id = v.id",
                [
                    self._array(x.id for x in lots),
                    self._array(x.remaining for x in lots),
                    self._array(x.expired for x in lots),
                ],
            )
