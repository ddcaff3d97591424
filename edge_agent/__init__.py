"""The edge agent: the counter box's application (store, outbox relay, checkout, devices, mPOS UI)."""
