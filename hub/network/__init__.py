"""The distributor's network at the hub: tenants (distributors), retailers, stores and the boxes in them, with each
box's loyalty-number block (:mod:`.registry`).

This package's interface is what it re-exports here. It may import :mod:`core` and the hub's foundation
(:mod:`hub.db`, :mod:`hub.errors`) only; the commands that edit it are in :mod:`hub.cli.network`.
"""

from hub.network import registry
from hub.network.registry import *  # noqa: F403  (the package's interface is the registry's)

__all__ = registry.__all__
