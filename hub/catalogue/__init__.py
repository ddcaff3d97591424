"""The distributor's catalogue at the hub: items, prices per currency, barcodes, stock per store and the stock
rules (:mod:`.items`), filled by the ERP sync and the file import (:mod:`hub.erp`) and sent to the boxes by
:mod:`hub.publishing`.

This package's interface is what it re-exports here. It may import :mod:`core`, the hub's foundation
(:mod:`hub.db`, :mod:`hub.errors`) and the ERP records of :mod:`hub.erp`.
"""

from hub.catalogue.items import (
    BATCH_MAX,
    Item,
    ItemProblem,
    LoadResult,
    Rule,
    StockRow,
    UpsertResult,
    item_from_erp,
    items,
    load_import,
    set_stock,
    set_stock_rules,
    stock,
    stock_rules,
    upsert_erp_products,
    upsert_items,
)

__all__ = [
    "BATCH_MAX",
    "Item",
    "ItemProblem",
    "LoadResult",
    "Rule",
    "StockRow",
    "UpsertResult",
    "item_from_erp",
    "items",
    "load_import",
    "set_stock",
    "set_stock_rules",
    "stock",
    "stock_rules",
    "upsert_erp_products",
    "upsert_items",
]
