"""Ecommerce reports: Goals.getItemsSku, Goals.getItemsName and Goals.getItemsCategory.

Orders (``trackEcommerceOrder``) and abandoned carts (a visit's last
``trackEcommerceCartUpdate`` with no order after it) are conversions with Matomo's goal ids
0 and -1 (tally/web/models/conversions.sql); their items are JSON on the hit, read here in
Python (DuckDB and PostgreSQL spell JSON access differently). ``abandonedCarts=1`` reports
the carts' items instead of the orders'.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import quote_plus

from tally.web.reporting.methods import Query, Report, Row, method, ratio, rounded, scoped_visits


def conversions_of(query: Query, idgoal: int) -> list[dict]:
    """The order (0) or cart (-1) facts of the query's visits, one dict each."""
    visits, params = scoped_visits(query)
    sql = f"""
        SELECT h.ecommerce FROM web.conversions AS c
        JOIN ({visits}) AS v ON v.idvisit = c.idvisit
        JOIN web.hits AS h ON h.hit_id = c.hit_id
        WHERE c.idgoal = ? AND h.ecommerce IS NOT NULL
    """
    found = []
    for (text,) in query.warehouse.rows(sql, [*params, idgoal]):
        try:
            found.append(json.loads(text))
        except json.JSONDecodeError:
            continue  # checked on the way in; a hand-edited row is skipped
    return found


def _items_by(query: Query, key: Callable[[list], list[str]], segment: str) -> Report:
    """Per label: revenue (price x quantity), quantity, orders, average price and quantity."""
    carts = query.params.get("abandonedCarts", "0") not in ("", "0")
    totals: dict[str, list[float]] = {}  # label: [revenue, quantity, orders]
    for facts in conversions_of(query, -1 if carts else 0):
        seen: set[str] = set()
        for item in facts.get("items", []):
            for label in key(item):
                row = totals.setdefault(label, [0.0, 0.0, 0.0])
                row[0] += float(item[3]) * float(item[4])
                row[1] += float(item[4])
                if label not in seen:  # an order counts once per label
                    row[2] += 1
                    seen.add(label)
    rows: list[Row] = [
        {
            "label": label,
            "revenue": rounded(revenue, 2),
            "quantity": rounded(quantity, 2),
            "orders": int(orders),
            "avg_price": ratio(revenue, quantity, 2),
            "avg_quantity": ratio(quantity, orders, 2),
            "segment": f"{segment}=={quote_plus(label)}",
        }
        for label, (revenue, quantity, orders) in totals.items()
    ]
    rows.sort(key=lambda row: (-float(row["revenue"]), str(row["label"])))  # type: ignore[arg-type]
    return rows


def _categories(item: list) -> list[str]:
    """An item's categories: one text, or a list of up to five (Matomo keeps five)."""
    category = item[2]
    if isinstance(category, list):
        return [str(c) for c in category[:5] if str(c).strip()]
    return [str(category)] if str(category).strip() else []


@method("Goals.getItemsSku")
def items_by_sku(query: Query) -> Report:
    """Ordered (or, with abandonedCarts=1, abandoned) items by SKU."""
    return _items_by(query, lambda item: [str(item[0])], "productSku")


@method("Goals.getItemsName")
def items_by_name(query: Query) -> Report:
    """Ordered (or abandoned) items by product name."""
    return _items_by(query, lambda item: [str(item[1])] if str(item[1]) else [], "productName")


@method("Goals.getItemsCategory")
def items_by_category(query: Query) -> Report:
    """Ordered (or abandoned) items by category (an item in several counts in each)."""
    return _items_by(query, _categories, "productCategory")
