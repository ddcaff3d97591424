"""The hub: the distributor's central service (ingest, ledger, programs, ERP, API, fleet)."""
