"""The distributor's analytics: the sale-line fact, its rollups, and the questions asked of them.

:mod:`.facts` loads every sale line and refund line into ``sale_line_fact`` incrementally from a watermark,
and keeps the rollups (day x store x item, day x store, day x store x hour, day x store x member, member x
month) in the same transaction; on PostgreSQL it keeps the fact's monthly partitions made ahead
(:func:`~hub.analytics.facts.ensure_partitions`). :mod:`.filters` validates the question filter (period,
region, distribution centre, retailer, store, brand, category); :mod:`.questions` answers live activity, best
sellers and margins, top retailers and members, and the hour x weekday heatmap from the rollups;
:mod:`.members` computes a member's age band and zone (postal code's region, else the home store's).

Modules are imported by name (``from hub.analytics.facts import load_facts``). This package may import
:mod:`core` and the hub's foundation (:mod:`hub.db`, :mod:`hub.errors`); the periodic round
(:mod:`hub.jobs`), the API and the commands import it.
"""
