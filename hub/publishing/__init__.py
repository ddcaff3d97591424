"""What the hub sends the boxes: configuration snapshots, retained and versioned on the broker.

:mod:`.retained` publishes one snapshot to one box (parts, manifest, versions that never go back);
:mod:`.snapshots` builds each box's settings, catalogue and stock rules from the hub's data and publishes them
only when they changed (:class:`Publisher`). Customers and promotions snapshots are built by their own
domains (:mod:`hub.customers.snapshot`, :mod:`hub.programs.promotions`) and published through this package.

This package's interface is what it re-exports here. It may import :mod:`core`, the hub's foundation
(:mod:`hub.db`, :mod:`hub.errors`, :mod:`hub.mqtt`), :mod:`hub.network` and :mod:`hub.catalogue`.
"""

from hub.publishing import retained as _retained
from hub.publishing import snapshots as _snapshots
from hub.publishing.retained import *  # noqa: F403  (the package's interface is its modules' __all__)
from hub.publishing.snapshots import *  # noqa: F403

__all__ = _retained.__all__ + _snapshots.__all__
