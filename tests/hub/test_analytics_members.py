"""Members in the analytics: the box's enrolment and update carry postal code and occupation to the hub, a
member's zone is their postal code's region or else their home store's, and age bands are computed."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from core import identity, wire
from hub import customers, db, network
from hub.analytics import members
from tests.hub.analytics_data import PREFIX, SALE_1_AT, TENANT, ingest, message, setup_network


def enrolment(number: int, postal_code: str | None, occupation: str | None = None) -> wire.EnrolmentData:
    lid = identity.make(PREFIX, number)
    return wire.EnrolmentData(
        customer=lid,
        store="store-a",
        fields=wire.CustomerFields(name=f"M{number}", sticker=lid, postal_code=postal_code, occupation=occupation),
    )


def test_postal_code_and_occupation_travel_and_give_the_members_zone(hub_engine: sa.Engine) -> None:
    with hub_engine.begin() as conn:
        setup_network(conn)
        network.add_postal_area(conn, TENANT, "44100", "Jalisco", municipality="Guadalajara")
    ingest(
        hub_engine,
        message("box-a", enrolment(1, "44100", "docente"), at=SALE_1_AT),
        message("box-a", enrolment(2, None), at=SALE_1_AT),
        message("box-a", enrolment(3, "99999"), at=SALE_1_AT),
    )
    update = wire.CustomerUpdateData(
        customer=identity.make(PREFIX, 2), store="store-a", fields=wire.CustomerFields(occupation="comerciante")
    )
    ingest(hub_engine, message("box-a", update, at=SALE_1_AT.replace(hour=16)))
    with db.writing(hub_engine) as conn:
        customers.apply_events(conn, TENANT, now=SALE_1_AT.replace(hour=17))
    c = db.customer
    with hub_engine.connect() as conn:
        stored = conn.execute(sa.select(c.c.loyalty_id, c.c.postal_code, c.c.occupation).order_by(c.c.loyalty_id)).all()
        zones = [tuple(r) for r in conn.execute(members.zones_query(TENANT).order_by(c.c.loyalty_id))]
        one = members.member_zone(conn, TENANT, identity.make(PREFIX, 1))
    ids = [identity.make(PREFIX, n) for n in (1, 2, 3)]
    assert [tuple(r) for r in stored] == [
        (ids[0], "44100", "docente"),
        (ids[1], None, "comerciante"),
        (ids[2], "99999", None),
    ]
    assert zones == [
        (ids[0], "44100", "Jalisco", "postal_code"),
        (ids[1], None, "Nuevo León", "home_store"),
        (ids[2], "99999", "Nuevo León", "home_store"),  # a postal code the hub does not know
    ]
    assert one == "Jalisco"


def test_a_bad_postal_code_breaks_the_contract() -> None:
    with pytest.raises(ValueError, match="postal_code"):
        wire.CustomerFields(postal_code="44 100 !")


@pytest.mark.parametrize(
    ("born", "band"),
    [
        (date(2001, 6, 2), "25-34"),  # 25 on the day
        (date(2001, 6, 3), "<25"),  # 25 tomorrow
        (date(1992, 1, 1), "25-34"),
        (date(1991, 6, 2), "35-44"),
        (date(1961, 6, 3), "55-64"),
        (date(1961, 6, 2), "65+"),
        (None, None),
    ],
)
def test_age_bands_are_computed_on_the_day(born: date | None, band: str | None) -> None:
    assert members.age_band(born, date(2026, 6, 2)) == band
