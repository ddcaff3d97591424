"""The analytics pages: best sellers and margins, top retailers and members with their trend, the hour x
weekday heatmap. Each calls the same :mod:`hub.analytics.questions` function the API calls, over the
analytics' own validated filter (:func:`hub.analytics.filters.make_filter`), scoped to the caller's retailer.

Every page is a URL whose query string holds the filter, the grouping and the order; adding ``format=csv``
to it downloads the same rows as CSV (what the table shows, in minor units and basis points).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Final

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from core.money import currency as core_currency
from hub import db
from hub.analytics import questions as q
from hub.analytics.filters import Filter, make_filter
from hub.api.scope import Scope

from . import figures
from .i18n import N_
from .periods import PRESETS, BadFilter
from .web import SECURITY_HEADERS, render, session_scope, translator

router = APIRouter(include_in_schema=False)
Session = Annotated[Scope, Depends(session_scope)]

FILTER_KEYS: Final = ("period", "from", "to", "region", "dc", "retailer", "store", "brand", "category")
OPTIONS_MAX: Final = 200
"""Most values a filter's drop-down lists (regions, brands, categories); narrow by store for the rest."""
ROWS: Final = 50
"""Rows a ranking page shows (the CSV download carries the same rows)."""
TOP_N: Final = 5
"""Retailers or members drawn as their own line in a trend chart; the others are summed as "the rest"."""

DIMENSIONS: Final = {
    "sku": N_("Item"),
    "category": N_("Category"),
    "brand": N_("Brand"),
    "manufacturer": N_("Manufacturer"),
    "region": N_("Region"),
    "dc": N_("Distribution centre"),
    "retailer": N_("Retailer"),
    "store": N_("Store"),
}
ORDERS: Final = {
    "amount": N_("Revenue"),
    "qty": N_("Units"),
    "margin": N_("Margin"),
    "margin_rate": N_("Margin rate"),
}
WEEKDAYS: Final = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))


@dataclass(frozen=True)
class View:
    """A page's validated filter, the query parameters it came from, and the choices of the filter bar."""

    flt: Filter
    raw: tuple[tuple[str, str], ...]

    def query(self, **changes: str | None) -> str:
        from urllib.parse import urlencode

        params = dict(self.raw)
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        return urlencode(sorted(params.items()))


def _day(params: Mapping[str, str], key: str) -> date | None:
    text = params.get(key)
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise BadFilter(key, f"{text!r} is not a date: write it as YYYY-MM-DD") from exc


def view_of(scope: Scope, params: Mapping[str, str], *, extra: Sequence[str] = ()) -> View:
    """The analytics filter of a query string, for the caller's scope (a retailer: its own stores only)."""
    preset = params.get("period") or "30d"
    values = {k: (params.get(k) or "").strip()[:64] or None for k in ("region", "dc", "retailer", "store")}
    items = {k: (params.get(k) or "").strip()[:64] or None for k in ("brand", "category")}
    custom = preset == "custom"
    flt = make_filter(
        scope.conn,
        scope.tenant,
        now=scope.now,
        preset=preset,
        date_from=_day(params, "from") if custom else None,
        date_to=_day(params, "to") if custom else None,
        scope_retailer=scope.retailer,
        **values,
        **items,
    )
    raw = tuple((k, params[k]) for k in (*FILTER_KEYS, *extra) if params.get(k))
    return View(flt, raw)


def _distinct(scope: Scope, column: sa.ColumnElement[Any], table: sa.Table, *where: Any) -> list[str]:
    rows = scope.conn.execute(
        sa.select(column).distinct().where(table.c.tenant == scope.tenant, column.is_not(None), column != "", *where)
        .order_by(column)
        .limit(OPTIONS_MAX)
    )  # fmt: skip
    return [str(value) for (value,) in rows]


def _context(scope: Scope, view: View) -> dict[str, Any]:
    s, item, dcs = db.store, db.catalogue_item, db.distribution_centre
    return {
        "view": view,
        "flt": view.flt,
        "presets": PRESETS,
        "stores": figures.scope_stores(scope),
        "retailers": figures.scope_retailers(scope),
        "regions": _distinct(scope, s.c.region, s, scope.stores_clause(s.c.store)),
        "dcs": _distinct(scope, dcs.c.dc, dcs) if scope.retailer is None else [],
        "brands": _distinct(scope, item.c.brand, item),
        "categories": _distinct(scope, item.c.category, item),
        "dimensions": DIMENSIONS,
        "orders": ORDERS,
    }


def _names(scope: Scope) -> dict[str, str]:
    """Display names of the caller's retailers and stores."""
    names = dict(figures.scope_retailers(scope))
    names.update({store: name for store, name, _retailer in figures.scope_stores(scope)})
    return names


def csv_response(name: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    headers = dict(SECURITY_HEADERS)
    headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


def chart(kind: str, labels: Sequence[str], datasets: Sequence[tuple[str, Sequence[float]]]) -> str:
    """A Chart.js spec as JSON for a ``<script type="application/json">`` block (read by dashboard.js).
    Money is drawn in major units: the chart only places points, the tables carry the exact amounts."""
    return json.dumps(
        {"type": kind, "labels": list(labels), "datasets": [{"label": n, "data": list(d)} for n, d in datasets]},
        ensure_ascii=False,
    ).replace("</", "<\\/")


def _major(amount_minor: int, currency: str | None) -> float:
    """An amount in major units for a chart's scale only (exact figures stay in the tables)."""
    exponent: int = core_currency(currency).exponent if currency else 2
    return float(Decimal(amount_minor).scaleb(-exponent))


@router.get("/sellers", response_class=HTMLResponse)
def sellers(request: Request, scope: Session) -> Response:
    view = view_of(scope, request.query_params, extra=("by", "order"))
    by = request.query_params.get("by") or "sku"
    order = request.query_params.get("order") or "amount"
    rows = q.best_sellers(scope.conn, view.flt, by=by, order=order, limit=ROWS)
    names = _names(scope)
    if by == "sku":
        items = db.catalogue_item
        names.update(
            {
                r.sku: r.name
                for r in scope.conn.execute(sa.select(items.c.sku, items.c.name).where(items.c.tenant == scope.tenant))
            }
        )
    if request.query_params.get("format") == "csv":
        return csv_response(
            f"best-sellers-by-{by}",
            (by, "name", "currency", "qty", "amount_minor", "margin_minor", "margin_bp", "tickets"),
            [
                (r.key, names.get(r.key or "", ""), r.currency, r.qty, r.amount_minor, r.margin_minor, r.margin_bp,
                 r.tickets)
                for r in rows
            ],
        )  # fmt: skip
    top = rows[:10]
    spec = chart(
        "bar",
        [names.get(r.key or "", r.key or "?") for r in top],
        [(translator(request).gettext(N_("Revenue")), [_major(r.amount_minor, r.currency) for r in top])],
    )
    return render(
        request,
        "sellers.html",
        scope=scope,
        **_context(scope, view),
        rows=rows,
        by=by,
        order=order,
        names=names,
        chart_spec=spec,
    )


@router.get("/top", response_class=HTMLResponse)
def top(request: Request, scope: Session) -> Response:
    view = view_of(scope, request.query_params)
    names = _names(scope)
    retailers = q.top_retailers(scope.conn, view.flt, limit=ROWS)
    members = [] if view.flt.item_level else q.top_members(scope.conn, view.flt, limit=ROWS)
    what = request.query_params.get("csv")
    if request.query_params.get("format") == "csv":
        if what == "members":
            return csv_response(
                "top-members",
                ("member", "currency", "amount_minor", "tickets", "stores", "points_earned", "points_spent"),
                [(m.customer, m.currency, m.amount_minor, m.tickets, m.stores, m.points_earned, m.points_spent)
                 for m in members],
            )  # fmt: skip
        return csv_response(
            "top-retailers",
            ("retailer", "name", "currency", "amount_minor", "tickets", "stores"),
            [
                (r.retailer, names.get(r.retailer, ""), r.currency, r.amount_minor, r.tickets, r.stores)
                for r in retailers
            ],
        )
    trends = {"retailer": q.top_trend(scope.conn, view.flt, of="retailer", n=TOP_N)}
    if not view.flt.item_level:
        trends["member"] = q.top_trend(scope.conn, view.flt, of="member", n=TOP_N)
    others = translator(request).gettext(N_("All the others"))
    specs = {
        of: chart(
            "line",
            t.labels,
            [(names.get(s.key, s.key), [_major(v, t.currency) for v in s.values]) for s in t.series]
            + [(others, [_major(v, t.currency) for v in t.rest])],
        )
        for of, t in trends.items()
    }
    return render(
        request,
        "top.html",
        scope=scope,
        **_context(scope, view),
        ranked_retailers=retailers,
        ranked_members=members,
        names=names,
        specs=specs,
    )


@router.get("/heatmap", response_class=HTMLResponse)
def heatmap(request: Request, scope: Session) -> Response:
    view = view_of(scope, request.query_params)
    if view.flt.item_level:
        raise BadFilter("brand", "the heatmap counts whole tickets: leave brand and category empty")
    heat = q.heatmap(scope.conn, view.flt)
    peak = max((max(row) for row in heat.tickets), default=0)
    levels = [[(0 if peak == 0 or n == 0 else 1 + 4 * n // (peak + 1)) for n in row] for row in heat.tickets]
    if request.query_params.get("format") == "csv":
        return csv_response(
            "heatmap", ("weekday", *[str(h) for h in range(24)]), [(d + 1, *row) for d, row in enumerate(heat.tickets)]
        )
    return render(
        request,
        "heatmap.html",
        scope=scope,
        **_context(scope, view),
        heat=heat,
        levels=levels,
        weekdays=WEEKDAYS,
    )
