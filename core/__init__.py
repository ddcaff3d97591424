"""Mostrador's pure domain, shared by the counter box and the hub.

Money, taxes, promotions and pricing, points and tiers, and the wire contract (topics, envelopes and message
schemas). Nothing here does I/O, reads the clock or draws random numbers: time, ids and seeds are passed in,
so the box and the hub compute the same answer from the same inputs.
"""
