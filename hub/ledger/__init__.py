"""The hub's points ledger: double-entry accounts, immutable transfers, lots with expiry, holds and overdrafts.

Model (after TigerBeetle)
-------------------------
* An **account** belongs to one tenant and one program and has a ``kind`` (:class:`Kind`) and an ``owner``
  party: a loyalty id for a customer, ``"distributor"`` or a retailer id for the others. Its id is derived
  from those four values (:func:`account_id`), so every caller names the same account the same way. The row
  keeps running totals (``debits_pending``, ``debits_posted``, ``credits_pending``, ``credits_posted``),
  changed only in the transaction that writes the transfers behind them. A customer account is limited
  (:attr:`AccountFlag.DEBITS_LIMITED`): ``credits_posted - debits_posted - debits_pending`` never goes below
  ``floor_points``, which is minus the customer's offline allowance.
* A **transfer** moves ``amount`` points (an integer above zero) from a debit account to a credit account of
  the same program. Its ``id`` is made by the client and is the idempotency key: applying the same transfer
  again has no effect (:attr:`Status.EXISTS`); the same id with different content is refused
  (:attr:`Status.EXISTS_WITH_DIFFERENT_FIELDS`). Rows are never updated. ``code`` (:class:`Code`) says why
  the points moved, ``ref`` what caused it (a sale event id, a lot id, the transfer being reversed).
* A **pending** transfer reserves points (a hold). A later transfer with ``POST_PENDING`` or
  ``VOID_PENDING`` and ``pending_id`` posts it (all or part of it) or releases it; the unique ``pending_id``
  column makes either happen at most once.
* Points credited to a customer form **lots** with an expiry (``lot_expiry_months`` of the program after
  the transfer's ``effective_at``). A debit spends lots, earliest expiry first; what no lot covers becomes
  the account's ``lot_debt_points``, paid back first by the next points credited. So for every customer
  account: sum of lot remainders - lot debt = posted balance. Which lots a transfer spent is recorded in
  ``ledger_lot_use``; that is what says, at settlement, who funded the points a retailer accepted.
* A **reversal** (code ``reverse``, ``ref`` = the original's id) moves points back between the same two
  accounts, at most the original's amount in total. Reversing a redemption gives back the very lots it spent.
* An **offline** transfer (:attr:`TransferFlag.OFFLINE`) was already honoured at a counter: it is never
  refused for want of points. If it takes the account below its floor it is accepted and an overdraft row is
  written for follow-up.

:func:`apply_transfers` applies a batch in the caller's transaction and returns one :class:`TransferResult`
per transfer, in order; a refused transfer writes nothing and does not stop the others. On PostgreSQL a batch
costs a handful of round trips whatever its size (array reads, ``COPY`` writes, one ``UPDATE .. FROM unnest``
per table); SQLite gets the same logic through plain statements.

Modules: :mod:`.model` (kinds, codes, flags, records), :mod:`.engine` (applying transfers, expiry),
:mod:`.storage` (the rows, with PostgreSQL's batched path), :mod:`.locks` (serialising a tenant's postings),
:mod:`.reports` (money, settlement and liability reports). The engine's interface is re-exported here; the
reports are imported as :mod:`hub.ledger.reports`. This package may import :mod:`core` and the hub's
foundation (:mod:`hub.db`, :mod:`hub.errors`) only: every other domain posts through it.
"""

from hub.ledger import engine, locks, model
from hub.ledger.engine import *  # noqa: F403  (the package's interface is its modules' __all__)
from hub.ledger.locks import *  # noqa: F403
from hub.ledger.model import *  # noqa: F403

__all__ = model.__all__ + engine.__all__ + locks.__all__
