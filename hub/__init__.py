"""The hub: the distributor's central service.

Packages, one per domain (each ``__init__`` says what it owns and what it may import):

* :mod:`hub.ingest`: box events from the broker, stored exactly once, and their points postings;
* :mod:`hub.ledger`: the points ledger (double entry, lots, holds) and its reports and settlement;
* :mod:`hub.customers`: customers, consents, merges, erasure, history and the boxes' customers snapshot;
* :mod:`hub.programs`: the points program, tiers, the merchant program and promotions;
* :mod:`hub.network` and :mod:`hub.catalogue`: stores and boxes; items, prices and stock;
* :mod:`hub.publishing`: retained, versioned configuration snapshots for the boxes;
* :mod:`hub.erp`: ERP connectors, the file import and the sync loop;
* :mod:`hub.api`: the HTTP API; :mod:`hub.cli`: every command (``python -m hub``).

The foundation every package may import: :mod:`hub.db` (schema, engines, migrations), :mod:`hub.errors`
(:class:`~hub.errors.HubError`), :mod:`hub.mqtt` (the broker session), and :mod:`hub.jobs`, the periodic round
that calls the domains. The hub never imports the box's application (``edge_agent``) or its devices
(``hardware``), nor the development kit (``devkit``).
"""
