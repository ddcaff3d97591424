"""The distributor's catalogue at the hub: items, prices per currency, barcodes, stock per store and the stock
rules (:mod:`.items`), filled by the ERP sync and the file import (:mod:`hub.erp`) and sent to the boxes by
:mod:`hub.publishing`.

This package's interface is what it re-exports here. It may import :mod:`core`, the hub's foundation
(:mod:`hub.db`, :mod:`hub.errors`) and the ERP records of :mod:`hub.erp`.
"""

from hub.catalogue import items as _items
from hub.catalogue.items import *  # noqa: F403  (the package's interface is its modules' __all__)

__all__ = _items.__all__
