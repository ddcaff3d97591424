"""Segments, levels and the distributor's questions about its members, baskets and brands.

* :mod:`.rules`: the rule language of a segment (all / any / not over behaviour, zone, tier, level,
  products bought, points balance and redemptions), parsed and validated as pydantic models;
* :mod:`.saved`: saved segments (create, read, update, delete) and their evaluation into member lists, SQL
  over the analytics rollups and facts (:mod:`hub.analytics`), run by the periodic jobs round;
* :mod:`.levels`: levels by transactions per month, for members and retailers, and the moves between them;
* :mod:`.baskets`: products bought together (pairs and triples: support, confidence, lift);
* :mod:`.scorecard`: the KPI scorecard (returns, the loyal members' profile, lapsed look-alikes, seasons,
  cross-selling per store);
* :mod:`.manufacturers`: brand grants to manufacturers and their sell-out view (never a consumer's data).

It may import :mod:`core`, the hub's foundation (:mod:`hub.db`, :mod:`hub.errors`), :mod:`hub.ledger` and
:mod:`hub.analytics`; :mod:`hub.jobs` and :mod:`hub.api` import it. The boxes receive memberships through the
customers snapshot (:mod:`hub.customers.snapshot` reads ``segment_member``), so no domain below imports this
package.
"""
