"""Ecommerce: orders, cart updates and abandoned carts sent as matomo.js sends them, through
the tracking endpoint, loader and sessionize, then Goals.get (idGoal=ecommerceOrder,
ecommerceAbandonedCart) and Goals.getItemsSku/Name/Category, counted by hand.

Site "Shop" (UTC), 2026-03-10, bulk requests with a token (cdt in the past):
  V1  visitor aaaa: page 10:00; cart update 10:01 (SKU1 x2 at 50 = 100); order O-1 10:02:
      SKU1 "Shoe" [Shoes, Sale] 50 x 2, SKU2 "Sock" Socks 5 x 2; revenue 115 = subtotal 110
      + tax 5 + shipping 5 - discount 5; then order O-1 again 10:03 (a repeat: ignored).
      The cart was followed by an order: no abandoned cart.
  V2  visitor bbbb: product page 11:00 (SKU2 "Sock" Socks at 5); cart update 11:01 (SKU2
      x1 at 5 = 5); cart update 11:02 (SKU2 x3 at 5 = 15): the last one is the visit's
      abandoned cart, 15.
  V3  visitor cccc: product page 12:00 (SKU2, as V2's); order O-2 12:01: SKU2 "Sock" Socks
      5 x 4, revenue 20.
Orders: O-1 (115) and O-2 (20) = 2 conversions in 2 of 3 visits, revenue 135.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from tally.config import load_settings
from tally.server.app import create_app
from tally.server.auth import create_token
from tally.warehouse import Warehouse, from_settings
from tally.web.loader import load_hits
from tally.web.reporting import call
from tally.web.sessions import sessionize
from tally.web.sites import add_site

DAY = {"idSite": "1", "period": "day", "date": "2026-03-10"}
SHOE = ["SKU1", "Shoe", ["Shoes", "Sale"], 50, 2]


def hit(visitor: str, clock: str, **params: object) -> str:
    base = {
        "idsite": 1,
        "rec": 1,
        "_id": visitor * 4,
        "cdt": f"2026-03-10 {clock}",
        "url": "https://shop.example/cart",
        "cip": "198.51.100.9",
    }
    return "?" + urlencode({**base, **params})


def items(*entries: list[object]) -> str:
    return json.dumps(list(entries))


REQUESTS = [
    hit("aaaa", "10:00:00", action_name="Home"),
    hit("aaaa", "10:01:00", idgoal=0, revenue=100, ec_items=items(["SKU1", "Shoe", "", 50, 2])),
    *[
        hit(
            "aaaa",
            clock,
            idgoal=0,
            ec_id="O-1",
            revenue=115,
            ec_st=110,
            ec_tx=5,
            ec_sh=5,
            ec_dt=5,
            ec_items=items(SHOE, ["SKU2", "Sock", "Socks", 5, 2]),
        )
        for clock in ("10:02:00", "10:03:00")
    ],
    hit("bbbb", "11:00:00", action_name="Sock", _pks="SKU2", _pkn="Sock", _pkc="Socks", _pkp=5),
    hit("bbbb", "11:01:00", idgoal=0, revenue=5, ec_items=items(["SKU2", "Sock", "Socks", 5, 1])),
    hit("bbbb", "11:02:00", idgoal=0, revenue=15, ec_items=items(["SKU2", "Sock", "Socks", 5, 3])),
    hit("cccc", "12:00:00", action_name="Sock", _pks="SKU2", _pkn="Sock", _pkc="Socks", _pkp=5),
    hit(
        "cccc",
        "12:01:00",
        idgoal=0,
        ec_id="O-2",
        revenue=20,
        ec_items=items(["SKU2", "Sock", "Socks", 5, 4]),
    ),
]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    data: Path = tmp_path_factory.mktemp("ecommerce")
    settings = load_settings(environ={"TALLY_DATA_DIR": str(data)})
    store = from_settings(settings)
    add_site(store, "Shop", ["https://shop.example"], "UTC")
    token = create_token(store, "shop")
    app = create_app(settings, warehouse=store, run_loader=False, stream=False)
    app.tracking.clock = lambda: dt.datetime(2026, 3, 11)
    with TestClient(app) as client:
        answer = client.post("/matomo.php", json={"requests": REQUESTS, "token_auth": token})
        assert answer.json()["tracked"] == len(REQUESTS), answer.text
    load_hits(store, settings)
    sessionize(store)
    yield store
    store.close()


def test_orders_and_the_abandoned_cart_as_goals(shop: Warehouse) -> None:
    orders = call(shop, "Goals.get", {**DAY, "idGoal": "ecommerceOrder"})
    # O-1 once (its repeat is ignored) and O-2: 115 + 20; items 2 + 2 + 4
    assert orders == {
        "nb_conversions": 2,
        "nb_visits_converted": 2,
        "revenue": 135,
        "conversion_rate": "66.67%",  # 2 of 3 visits
        "items": 8,
        "revenue_subtotal": 110,  # O-2 sent no subtotal
        "revenue_tax": 5,
        "revenue_shipping": 5,
        "revenue_discount": 5,
        "avg_order_revenue": 67.5,
    }
    carts = call(shop, "Goals.get", {**DAY, "idGoal": "ecommerceAbandonedCart"})
    assert carts == {  # V2's last cart update only; V1's cart became an order
        "nb_conversions": 1,
        "nb_visits_converted": 1,
        "revenue": 15,
        "conversion_rate": "33.33%",
        "items": 3,
    }
    # every goal together: the orders count, the abandoned cart does not
    overall = call(shop, "Goals.get", DAY)
    assert isinstance(overall, dict)
    assert (overall["nb_conversions"], overall["revenue"]) == (2, 135)
    summary = call(shop, "VisitsSummary.get", DAY)
    assert isinstance(summary, dict) and summary["nb_visits_converted"] == 2


def test_items_by_sku_name_and_category(shop: Warehouse) -> None:
    def table(method: str, **extra: str) -> list[tuple[object, ...]]:
        rows = call(shop, method, {**DAY, **extra})
        assert isinstance(rows, list)
        return [
            (r["label"], r["revenue"], r["quantity"], r.get("orders", r.get("abandoned_carts")),
             r["avg_price"])
            for r in rows
        ]  # fmt: skip

    # SKU1: O-1 50 x 2 = 100; SKU2: O-1 5 x 2 + O-2 5 x 4 = 30, 6 items in 2 orders
    assert table("Goals.getItemsSku") == [("SKU1", 100, 2, 1, 50), ("SKU2", 30, 6, 2, 5)]
    assert table("Goals.getItemsName") == [("Shoe", 100, 2, 1, 50), ("Sock", 30, 6, 2, 5)]
    # the shoe is in two categories and counts in each
    assert table("Goals.getItemsCategory") == [
        ("Sale", 100, 2, 1, 50),
        ("Shoes", 100, 2, 1, 50),
        ("Socks", 30, 6, 2, 5),
    ]
    # abandonedCarts=1: the items of V2's abandoned cart, 5 x 3
    assert table("Goals.getItemsSku", abandonedCarts="1") == [("SKU2", 15, 3, 1, 5)]


def test_product_pages_give_items_visits_and_conversion_rate(shop: Warehouse) -> None:
    # Matomo's rule: nb_visits = visits that viewed the product (setEcommerceView), nb_actions
    # the views, conversion_rate = orders (or carts) per viewing visit. SKU2 was viewed in V2
    # and V3 and ordered in O-1 (V1, not viewed) and O-2 (V3): 2 orders / 2 visits = 100%;
    # SKU1 was never viewed: no visits, 0%. Carts: V2's abandoned cart / 2 visits = 50%.
    rows = {r["label"]: r for r in call(shop, "Goals.getItemsSku", DAY)}  # type: ignore[union-attr]
    sock = rows["SKU2"]
    assert (sock["nb_visits"], sock["nb_actions"], sock["conversion_rate"]) == (2, 2, "100%")
    assert (rows["SKU1"]["nb_visits"], rows["SKU1"]["conversion_rate"]) == (0, "0%")
    carts = call(shop, "Goals.getItemsSku", {**DAY, "abandonedCarts": "1"})
    assert [(r["label"], r["abandoned_carts"], r["conversion_rate"]) for r in carts] == [
        ("SKU2", 1, "50%")
    ]
    # a product page without orders in the period still has its row
    names = {r["label"] for r in call(shop, "Goals.getItemsName", DAY)}  # type: ignore[union-attr]
    assert names == {"Shoe", "Sock"}


def test_visitor_log_shows_orders_and_abandoned_carts(shop: Warehouse) -> None:
    # Matomo's visitor log: orders and abandoned carts are actions of their own type, not
    # goal conversions (goalConversions counts goals only); the visit's ecommerce status
    log = call(shop, "Live.getLastVisitsDetails", DAY)
    by_start = {r["firstActionTimestamp"] % 86400 // 3600: r for r in log}  # type: ignore[union-attr]
    first, second = by_start[10], by_start[11]
    assert [a["type"] for a in first["actionDetails"]] == ["action", "ecommerceOrder"]
    assert (first["goalConversions"], first["visitEcommerceStatus"]) == (0, "ordered")
    assert second["actionDetails"][-1]["type"] == "ecommerceAbandonedCart"
    assert second["visitEcommerceStatus"] == "abandonedCart"
