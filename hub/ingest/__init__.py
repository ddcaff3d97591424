"""The hub's ingest: box events from the broker into the database, exactly once, and their points postings.

:mod:`.worker` takes events from the broker's shared subscription, stores them in batches (the inbox, a
sale's rows, dead letters) and acknowledges each box only after its batch committed; :mod:`.supervisor`
runs several workers as one service. In the same transaction :mod:`.postings` turns the new events into
ledger postings: sales (:mod:`.sales`), refunds (:mod:`.refunds`), enrolments; :mod:`.verify` prices later
what could not be priced at once. :mod:`.batch` is what one batch's postings share.

Modules are imported by name (``from hub.ingest.worker import IngestWorker``). This package may import
:mod:`core`, the hub's foundation (:mod:`hub.db`, :mod:`hub.errors`, :mod:`hub.mqtt`), :mod:`hub.ledger`,
:mod:`hub.customers`, :mod:`hub.network` and :mod:`hub.programs`.
"""
