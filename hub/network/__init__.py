"""The distributor's network at the hub: tenants (distributors), retailers, stores and the boxes in them, with each
box's loyalty-number block (:mod:`.registry`).

This package's interface is what it re-exports here. It may import :mod:`core` and the hub's foundation
(:mod:`hub.db`, :mod:`hub.errors`) only; the commands that edit it are in :mod:`hub.cli.network`.
"""

from hub.network.registry import (
    LANGUAGES,
    LOYALTY_BLOCK_SIZE,
    MAX_BLOCK,
    MAX_LISTED,
    MAX_NAME_CHARS,
    Device,
    DistributionCentre,
    Store,
    Tenant,
    add_dc,
    add_device,
    add_postal_area,
    add_retailer,
    add_store,
    add_tenant,
    countries,
    devices,
    distribution_centres,
    get_device,
    get_store,
    get_tenant,
    stores,
)

__all__ = [
    "LANGUAGES",
    "LOYALTY_BLOCK_SIZE",
    "MAX_BLOCK",
    "MAX_LISTED",
    "MAX_NAME_CHARS",
    "Device",
    "DistributionCentre",
    "Store",
    "Tenant",
    "add_dc",
    "add_device",
    "add_postal_area",
    "add_retailer",
    "add_store",
    "add_tenant",
    "countries",
    "devices",
    "distribution_centres",
    "get_device",
    "get_store",
    "get_tenant",
    "stores",
]
