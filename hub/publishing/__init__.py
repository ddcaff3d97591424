"""What the hub sends the boxes: configuration snapshots, retained and versioned on the broker.

:mod:`.retained` publishes one snapshot to one box (parts, manifest, versions that never go back);
:mod:`.snapshots` builds each box's settings, catalogue and stock rules from the hub's data and publishes them
only when they changed (:class:`Publisher`). Customers and promotions snapshots are built by their own
domains (:mod:`hub.customers.snapshot`, :mod:`hub.programs.promotions`) and published through this package.

This package's interface is what it re-exports here. It may import :mod:`core`, the hub's foundation
(:mod:`hub.db`, :mod:`hub.errors`, :mod:`hub.mqtt`), :mod:`hub.network` and :mod:`hub.catalogue`.
"""

from hub.publishing.retained import (
    MAX_BODY_FILE_BYTES,
    MAX_INFLIGHT,
    PUBLISH_TIMEOUT_S,
    PUBLISHER_ID,
    Published,
    PublishError,
    RetainedState,
    VersionRefused,
    publish_config,
    read_retained,
)
from hub.publishing.snapshots import (
    BUILT_KINDS,
    PUBLISHER_CLIENT_PREFIX,
    Outcome,
    Publisher,
    build,
    catalogue_body,
    connect_broker,
    settings_body,
    stock_rules_body,
)

__all__ = [
    "BUILT_KINDS",
    "MAX_BODY_FILE_BYTES",
    "MAX_INFLIGHT",
    "PUBLISHER_CLIENT_PREFIX",
    "PUBLISHER_ID",
    "PUBLISH_TIMEOUT_S",
    "Outcome",
    "PublishError",
    "Published",
    "Publisher",
    "RetainedState",
    "VersionRefused",
    "build",
    "catalogue_body",
    "connect_broker",
    "publish_config",
    "read_retained",
    "settings_body",
    "stock_rules_body",
]
