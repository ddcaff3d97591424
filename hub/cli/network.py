"""``network``: the distributor's tenants, distribution centres, stores and boxes (:mod:`hub.network`), the
catalogue's manufacturers and brands (:mod:`hub.catalogue.brands`), postal areas (a member's zone), and
``network publish``, which sends each box its settings, catalogue and stock rules
(:class:`hub.publishing.Publisher`).

Every action prints what it did as JSON. Exit status: 0 done, 1 broker or database failure, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict
from typing import Any

import sqlalchemy as sa

from core.errors import InvalidInput
from hub import db
from hub.catalogue import brands
from hub.cli.options import add_broker_arguments, password
from hub.network.registry import (
    LANGUAGES,
    Store,
    add_dc,
    add_device,
    add_postal_area,
    add_store,
    add_tenant,
    devices,
    distribution_centres,
    get_tenant,
    stores,
)
from hub.publishing.retained import PublishError
from hub.publishing.snapshots import Publisher, connect_broker

__all__ = [
    "add_arguments",
]

log = logging.getLogger(__name__)


def add_arguments(sub: Any) -> None:
    """Add ``network`` and its actions to the hub's command line (``sub`` is its subparsers object)."""
    parser: argparse.ArgumentParser = sub.add_parser("network", help="tenants, stores and boxes; publish their config")
    actions = parser.add_subparsers(dest="action", required=True)
    ten = actions.add_parser("add-tenant", help="create or update a distributor")
    ten.add_argument("--tenant", required=True)
    ten.add_argument("--name", required=True)
    ten.add_argument("--loyalty-prefix", type=int, required=True, help="100 to 999, unique per tenant")
    ten.add_argument("--erp-supplier", help="the distributor's party code in its ERP")
    ten.add_argument("--tax-category", default="general", help="for items whose source names none")
    st = actions.add_parser("add-store", help="create or update a store (and its retailer)")
    st.add_argument("--tenant", required=True)
    st.add_argument("--store", required=True)
    st.add_argument("--retailer", required=True)
    st.add_argument("--retailer-name")
    st.add_argument("--name", required=True)
    st.add_argument("--timezone", required=True, help="IANA name, e.g. America/Mexico_City")
    st.add_argument("--currency", default="MXN")
    st.add_argument("--jurisdiction", required=True, help="a shipped tax jurisdiction, e.g. mx-general")
    st.add_argument("--language", choices=LANGUAGES, default="es")
    st.add_argument("--receipt-header", action="append", default=[], help="a receipt header line (repeatable)")
    st.add_argument("--receipt-footer", action="append", default=[], help="a receipt footer line (repeatable)")
    st.add_argument("--offline-allowance-points", type=int, default=0)
    st.add_argument("--wallets", action="store_true", help="accept WeChat Pay / Alipay codes")
    st.add_argument("--warehouse", help="code of the ERP warehouse serving the store")
    st.add_argument("--country", help="ISO 3166-1 alpha-2 code, e.g. MX")
    st.add_argument("--region", default="", help="state or province, e.g. Jalisco")
    st.add_argument("--municipality")
    st.add_argument("--postal-code")
    st.add_argument("--latitude", type=float, help="decimal degrees, -90 to 90")
    st.add_argument("--longitude", type=float, help="decimal degrees, -180 to 180")
    st.add_argument("--dc", help="the distribution centre that supplies the store (see add-dc)")
    dc = actions.add_parser("add-dc", help="create or update a distribution centre")
    dc.add_argument("--tenant", required=True)
    dc.add_argument("--dc", required=True)
    dc.add_argument("--name", required=True)
    dc.add_argument("--region", required=True, help="the region it is in")
    mf = actions.add_parser("add-manufacturer", help="create or rename a manufacturer")
    mf.add_argument("--tenant", required=True)
    mf.add_argument("--manufacturer", required=True)
    mf.add_argument("--name", required=True)
    br = actions.add_parser("add-brand", help="create or update a brand and its manufacturer")
    br.add_argument("--tenant", required=True)
    br.add_argument("--brand", required=True, help="as the items name it")
    br.add_argument("--name", required=True)
    br.add_argument("--manufacturer", help="the manufacturer that owns it (see add-manufacturer)")
    pa = actions.add_parser("add-postal-area", help="say which region a postal code is in")
    pa.add_argument("--tenant", required=True)
    pa.add_argument("--postal-code", required=True)
    pa.add_argument("--region", required=True)
    pa.add_argument("--municipality")
    dev = actions.add_parser("add-device", help="put a box in a store")
    dev.add_argument("--tenant", required=True)
    dev.add_argument("--device", required=True)
    dev.add_argument("--store", required=True)
    dev.add_argument("--loyalty-first", type=int)
    dev.add_argument("--loyalty-last", type=int)
    lst = actions.add_parser("list", help="print a tenant's stores and boxes as JSON")
    lst.add_argument("--tenant", required=True)
    pub = actions.add_parser("publish", help="publish settings, catalogue and stock rules to a tenant's boxes")
    pub.add_argument("--tenant", required=True)
    pub.add_argument("--device", help="only this box")
    add_broker_arguments(pub)
    parser.set_defaults(run=run_cli)


def run_cli(engine: sa.Engine, args: argparse.Namespace) -> int:
    """Run ``network ACTION``: 0 done, 1 broker or database failure, 2 bad input."""
    try:
        db.migrate(engine)
        if args.action == "publish":
            return _publish(engine, args)
        with engine.begin() as conn:
            result: dict[str, Any]
            if args.action == "add-tenant":
                result = asdict(
                    add_tenant(
                        conn,
                        args.tenant,
                        args.name,
                        args.loyalty_prefix,
                        erp_supplier=args.erp_supplier,
                        default_tax_category=args.tax_category,
                    )
                )
            elif args.action == "add-store":
                result = asdict(
                    add_store(
                        conn,
                        Store(
                            tenant=args.tenant,
                            store=args.store,
                            retailer=args.retailer,
                            name=args.name,
                            timezone=args.timezone,
                            currency=args.currency.upper(),
                            jurisdiction=args.jurisdiction,
                            language=args.language,
                            receipt_header=tuple(args.receipt_header),
                            receipt_footer=tuple(args.receipt_footer),
                            offline_allowance_points=args.offline_allowance_points,
                            wallets_enabled=args.wallets,
                            warehouse=args.warehouse,
                            country=args.country.upper() if args.country else None,
                            region=args.region,
                            municipality=args.municipality,
                            postal_code=args.postal_code,
                            latitude=args.latitude,
                            longitude=args.longitude,
                            dc=args.dc,
                        ),
                        retailer_name=args.retailer_name,
                    )
                )
            elif args.action == "add-dc":
                result = asdict(add_dc(conn, args.tenant, args.dc, args.name, args.region))
            elif args.action == "add-manufacturer":
                result = asdict(brands.add_manufacturer(conn, args.tenant, args.manufacturer, args.name))
            elif args.action == "add-brand":
                result = asdict(
                    brands.add_brand(conn, args.tenant, args.brand, args.name, manufacturer=args.manufacturer)
                )
            elif args.action == "add-postal-area":
                add_postal_area(conn, args.tenant, args.postal_code, args.region, municipality=args.municipality)
                result = {"tenant": args.tenant, "postal_code": args.postal_code, "region": args.region}
            elif args.action == "add-device":
                if (args.loyalty_first is None) != (args.loyalty_last is None):
                    raise InvalidInput("--loyalty-first", "give both --loyalty-first and --loyalty-last, or neither")
                rng = None if args.loyalty_first is None else (args.loyalty_first, args.loyalty_last)
                result = asdict(add_device(conn, args.tenant, args.device, args.store, loyalty_range=rng))
            else:
                get_tenant(conn, args.tenant)
                result = {
                    "distribution_centres": [asdict(d) for d in distribution_centres(conn, args.tenant)],
                    "manufacturers": [asdict(m) for m in brands.manufacturers(conn, args.tenant)],
                    "brands": [asdict(b) for b in brands.brands(conn, args.tenant)],
                    "stores": [asdict(s) for s in stores(conn, args.tenant)],
                    "devices": [asdict(d) for d in devices(conn, args.tenant)],
                }
    except InvalidInput as exc:
        log.error("refused: %s", exc)
        return 2
    print(json.dumps(result, ensure_ascii=False))
    return 0


def _publish(engine: sa.Engine, args: argparse.Namespace) -> int:
    """``network publish``: 0 every snapshot published or already there, 1 broker failure, 2 a body refused."""
    try:
        client = connect_broker(args.mqtt_host, args.mqtt_port, args.mqtt_user, password(args))
    except PublishError as exc:
        log.error("%s", exc)
        return 1
    try:
        publisher = Publisher(engine, client)
        if args.device:
            outcomes = publisher.publish_device(args.tenant, args.device, recheck=True)
        else:
            outcomes = publisher.publish_tenant(args.tenant, recheck=True)
    except PublishError as exc:
        log.error("%s", exc)
        return 1
    finally:
        client.disconnect()
        client.loop_stop()
    print(json.dumps([asdict(o) for o in outcomes], ensure_ascii=False))
    return 2 if any(o.error for o in outcomes) else 0
