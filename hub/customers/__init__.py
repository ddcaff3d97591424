"""The distributor's customers at the hub: enrolments and updates from the boxes (:mod:`.events`), consents and
fingerprint templates (:mod:`.consent`), duplicates and merges (:mod:`.merge`), erasure (:mod:`.erasure`),
balance and history across stores (:mod:`.history`), and the customers snapshot each box caches
(:mod:`.snapshot`), on the record and lookups of :mod:`.records`.

This package's interface is what it re-exports here. It may import :mod:`core`, the hub's foundation
(:mod:`hub.db`, :mod:`hub.errors`), :mod:`hub.ledger`, :mod:`hub.network` and :mod:`hub.publishing`; tiers are
in :mod:`hub.programs.tiers`, which imports this package, never the other way round.

All functions work inside the caller's transaction and raise :class:`core.errors.InvalidInput` (or
:class:`UnknownCustomer`) naming the field and what to do.
"""

from hub.customers.consent import (
    set_consent,
)
from hub.customers.erasure import (
    erase,
)
from hub.customers.events import (
    APPLY_BATCH_MAX,
    CUSTOMER_EVENT_TYPES,
    ApplyReport,
    apply_events,
)
from hub.customers.history import (
    MAX_HISTORY,
    CustomerBalance,
    HistoryEntry,
    balance,
    history,
)
from hub.customers.merge import (
    MAX_DUPLICATES,
    Duplicate,
    MergeResult,
    dismiss_duplicate,
    duplicates,
    find_duplicates,
    merge,
)
from hub.customers.records import (
    CustomerView,
    State,
    UnknownCustomer,
    check_loyalty_id,
    get_customer,
    resolve,
)
from hub.customers.snapshot import (
    ACTIVITY_SCAN_MAX,
    MAX_DEAD_LETTERS_READ,
    MAX_REGULARS,
    REGULAR_DAYS,
    customers_body,
    publish_to_boxes,
    watermark_seq,
)

__all__ = [
    "ACTIVITY_SCAN_MAX",
    "APPLY_BATCH_MAX",
    "CUSTOMER_EVENT_TYPES",
    "MAX_DEAD_LETTERS_READ",
    "MAX_DUPLICATES",
    "MAX_HISTORY",
    "MAX_REGULARS",
    "REGULAR_DAYS",
    "ApplyReport",
    "CustomerBalance",
    "CustomerView",
    "Duplicate",
    "HistoryEntry",
    "MergeResult",
    "State",
    "UnknownCustomer",
    "apply_events",
    "balance",
    "check_loyalty_id",
    "customers_body",
    "dismiss_duplicate",
    "duplicates",
    "erase",
    "find_duplicates",
    "get_customer",
    "history",
    "merge",
    "publish_to_boxes",
    "resolve",
    "set_consent",
    "watermark_seq",
]
