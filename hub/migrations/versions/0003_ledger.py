"""points ledger: programs, accounts, immutable transfers, lots and their uses, overdraft follow-ups, settlements

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_account",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("program", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("floor_points", sa.BigInteger(), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("debits_pending", sa.BigInteger(), nullable=False),
        sa.Column("debits_posted", sa.BigInteger(), nullable=False),
        sa.Column("credits_pending", sa.BigInteger(), nullable=False),
        sa.Column("credits_posted", sa.BigInteger(), nullable=False),
        sa.Column("lot_debt_points", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0 AND credits_posted >= 0 "
            "AND lot_debt_points >= 0",
            name=op.f("ck_ledger_account_totals_not_negative"),
        ),
        sa.CheckConstraint("floor_points <= 0", name=op.f("ck_ledger_account_floor_not_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_account")),
        sa.UniqueConstraint("tenant", "program", "kind", "owner", name="uq_ledger_account_key"),
    )
    op.create_table(
        "ledger_lot",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("transfer_id", sa.Uuid(), nullable=False),
        sa.Column("funder", sa.String(length=64), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("expired_points", sa.BigInteger(), nullable=False),
        sa.Column("earned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "points > 0 AND remaining >= 0 AND remaining <= points", name=op.f("ck_ledger_lot_remaining_in_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_lot")),
    )
    with op.batch_alter_table("ledger_lot", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_lot_account", ["account_id"], unique=False)
        batch_op.create_index("ix_ledger_lot_expiry", ["expires_at"], unique=False)

    op.create_table(
        "ledger_lot_use",
        sa.Column("for_transfer_id", sa.Uuid(), nullable=False),
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("transfer_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("for_transfer_id", "lot_id", "transfer_id", name=op.f("pk_ledger_lot_use")),
    )
    op.create_table(
        "ledger_program",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("program", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("points_per_step", sa.BigInteger(), nullable=False),
        sa.Column("value_minor_per_step", sa.BigInteger(), nullable=False),
        sa.Column("lot_expiry_months", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("lot_expiry_months >= 0", name=op.f("ck_ledger_program_expiry_not_negative")),
        sa.CheckConstraint(
            "points_per_step > 0 AND value_minor_per_step > 0", name=op.f("ck_ledger_program_positive_rate")
        ),
        sa.PrimaryKeyConstraint("tenant", "program", name=op.f("pk_ledger_program")),
    )
    op.create_table(
        "ledger_settlement",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("program", sa.String(length=64), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("party", sa.String(length=64), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("accepted_points", sa.BigInteger(), nullable=False),
        sa.Column("funded_points", sa.BigInteger(), nullable=False),
        sa.Column("owed_to_party_minor", sa.BigInteger(), nullable=False),
        sa.Column("owed_by_party_minor", sa.BigInteger(), nullable=False),
        sa.Column("net_minor", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "program", "period_start", "party", name=op.f("pk_ledger_settlement")),
    )
    op.create_table(
        "ledger_transfer",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("program", sa.String(length=64), nullable=False),
        sa.Column("debit_account_id", sa.Uuid(), nullable=False),
        sa.Column("credit_account_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("pending_id", sa.Uuid(), nullable=True),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ledger_transfer_amount_positive")),
        sa.CheckConstraint("debit_account_id <> credit_account_id", name=op.f("ck_ledger_transfer_accounts_differ")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transfer")),
    )
    with op.batch_alter_table("ledger_transfer", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_transfer_period", ["tenant", "program", "created_at"], unique=False)
        batch_op.create_index(
            "ix_ledger_transfer_reversed",
            ["ref"],
            unique=False,
            postgresql_where=sa.text("code = 'reverse'"),
            sqlite_where=sa.text("code = 'reverse'"),
        )
        batch_op.create_index(
            "uq_ledger_transfer_pending_id",
            ["pending_id"],
            unique=True,
            postgresql_where=sa.text("pending_id IS NOT NULL"),
            sqlite_where=sa.text("pending_id IS NOT NULL"),
        )

    op.create_table(
        "ledger_overdraft",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("transfer_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("program", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("available_points", sa.BigInteger(), nullable=False),
        sa.Column("floor_points", sa.BigInteger(), nullable=False),
        sa.Column("shortfall_points", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_account.id"], name=op.f("fk_ledger_overdraft_account_id_ledger_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_overdraft")),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_ledger_overdraft_transfer_id")),
    )
    with op.batch_alter_table("ledger_overdraft", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_overdraft_open", ["tenant", "resolved_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ledger_overdraft", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_overdraft_open")

    op.drop_table("ledger_overdraft")
    with op.batch_alter_table("ledger_transfer", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_ledger_transfer_pending_id",
            postgresql_where=sa.text("pending_id IS NOT NULL"),
            sqlite_where=sa.text("pending_id IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_ledger_transfer_reversed",
            postgresql_where=sa.text("code = 'reverse'"),
            sqlite_where=sa.text("code = 'reverse'"),
        )
        batch_op.drop_index("ix_ledger_transfer_period")

    op.drop_table("ledger_transfer")
    op.drop_table("ledger_settlement")
    op.drop_table("ledger_program")
    op.drop_table("ledger_lot_use")
    with op.batch_alter_table("ledger_lot", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_lot_expiry")
        batch_op.drop_index("ix_ledger_lot_account")

    op.drop_table("ledger_lot")
    op.drop_table("ledger_account")
