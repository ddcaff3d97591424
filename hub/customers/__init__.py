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

from hub.customers import consent as _consent
from hub.customers import erasure as _erasure
from hub.customers import events as _events
from hub.customers import history as _history
from hub.customers import merge as _merge
from hub.customers import records as _records
from hub.customers import snapshot as _snapshot
from hub.customers.consent import *  # noqa: F403
from hub.customers.erasure import *  # noqa: F403
from hub.customers.events import *  # noqa: F403
from hub.customers.history import *  # noqa: F403
from hub.customers.merge import *  # noqa: F403
from hub.customers.records import *  # noqa: F403  (the package's interface is its modules' __all__)
from hub.customers.snapshot import *  # noqa: F403

__all__ = (
    _records.__all__
    + _consent.__all__
    + _events.__all__
    + _merge.__all__
    + _erasure.__all__
    + _history.__all__
    + _snapshot.__all__
)
