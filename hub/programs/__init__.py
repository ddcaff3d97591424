"""The distributor's programs at the hub: the points program (:mod:`.points`), tiers (:mod:`.tiers`), the
merchant program for retailers (:mod:`.merchant`) and promotions with their published sets
(:mod:`.promotions`).

The rules themselves (earning, tiers, promotions) are in :mod:`core`, which the boxes apply too; this package
stores them per tenant, evaluates them over the hub's data and publishes them. Modules are imported by name.
It may import :mod:`core`, the hub's foundation (:mod:`hub.db`, :mod:`hub.errors`), :mod:`hub.ledger`,
:mod:`hub.customers`, :mod:`hub.network` and :mod:`hub.publishing`.
"""
