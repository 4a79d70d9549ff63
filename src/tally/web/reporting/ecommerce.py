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
from typing import Any
from urllib.parse import quote_plus

from tally.web.reporting.methods import Query, Report, Row, method, ratio, rounded, scoped_visits
from tally.web.reporting.queries import report_sql


def conversions_of(query: Query, idgoal: int) -> list[dict[str, Any]]:
    """The order (0) or cart (-1) facts of the query's visits, one dict each."""
    visits, params = scoped_visits(query)
    sql = report_sql("ecommerce_facts", visits=visits)
    found = []
    for (text,) in query.warehouse.rows(sql, [*params, idgoal]):
        try:
            found.append(json.loads(text))
        except json.JSONDecodeError:
            continue  # checked on the way in; a hand-edited row is skipped
    return found


def product_views(query: Query) -> list[tuple[str, str, list[Any]]]:
    """(visit key, visitor key, [sku, name, category, price]) of each product page view
    (``setEcommerceView``) of the query's visits."""
    visits, params = scoped_visits(query)
    sql = report_sql("product_views", visits=visits)
    found = []
    for idvisit, visitor, text in query.warehouse.rows(sql, params):
        try:
            view = json.loads(text).get("view")
        except json.JSONDecodeError:
            continue
        if isinstance(view, list) and len(view) == 4:
            found.append((str(idvisit), str(visitor), view))
    return found


class _Label:
    """One row's running figures: items ordered (or left in carts) and product views."""

    def __init__(self) -> None:
        self.revenue = self.quantity = self.prices = 0.0
        self.conversions = 0
        self.visits: set[str] = set()
        self.visitors: set[str] = set()
        self.views = 0
        self.viewed_prices: list[float] = []

    def row(self, label: str, segment: str, carts: bool) -> Row:
        # Matomo (plugins/Goals/API.php, Ecommerce Archiver): avg_price is the mean line
        # price per order, or the mean price of the priced views of a product never ordered;
        # conversion_rate the orders (carts) per visit that viewed the product
        if self.conversions:
            average_price = ratio(self.prices, self.conversions, 2)
        elif self.viewed_prices:
            average_price = ratio(sum(self.viewed_prices), len(self.viewed_prices), 2)
        else:
            average_price = 0
        visits = len(self.visits)
        rate = rounded(100 * self.conversions / visits, 2) if visits else 0
        return {
            "label": label,
            "revenue": rounded(self.revenue, 2),
            "quantity": rounded(self.quantity, 2),
            "abandoned_carts" if carts else "orders": self.conversions,
            "nb_visits": visits,
            "nb_uniq_visitors": len(self.visitors),
            "nb_actions": self.views,
            "avg_price": average_price,
            "avg_quantity": ratio(self.quantity, self.conversions, 2),
            "conversion_rate": f"{rate}%",
            "segment": f"{segment}=={quote_plus(label)}",
        }


def _items_by(query: Query, key: Callable[[list[Any]], list[str]], segment: str) -> Report:
    """Per label: the ordered items' revenue (price x quantity), quantity and orders, and
    the product page views: visits, visitors, views (Matomo's nb_actions)."""
    carts = query.params.get("abandonedCarts", "0") not in ("", "0")
    labels: dict[str, _Label] = {}
    for facts in conversions_of(query, -1 if carts else 0):
        seen: set[str] = set()
        for item in facts.get("items", []):
            for label in key(item):
                found = labels.setdefault(label, _Label())
                found.revenue += float(item[3]) * float(item[4])
                found.quantity += float(item[4])
                found.prices += float(item[3])
                if label not in seen:  # an order counts once per label
                    found.conversions += 1
                    seen.add(label)
    for idvisit, visitor, view in product_views(query):
        for label in key(view):
            found = labels.setdefault(label, _Label())
            found.visits.add(idvisit)
            found.visitors.add(visitor)
            found.views += 1
            if float(view[3] or 0) > 0:
                found.viewed_prices.append(float(view[3]))
    ranked = sorted(
        labels.items(),
        key=lambda item: (-float(rounded(item[1].revenue, 2)), -len(item[1].visits), item[0]),
    )
    return [found.row(label, segment, carts) for label, found in ranked]


def _categories(item: list[Any]) -> list[str]:
    """An item's categories: one text, or a list whose first five non-empty entries count
    (Matomo keeps five); none is Matomo's "Product Category not defined"."""
    category = item[2]
    values = category if isinstance(category, list) else [category]
    kept = [str(c).strip() for c in values if str(c).strip() not in ("", "0")][:5]
    return kept or [NO_CATEGORY]


def _names(item: list[Any]) -> list[str]:
    """An item's (or viewed product's) name; none is Matomo's "Product Name not defined"."""
    if not str(item[0]).strip() and not str(item[1]).strip():
        return []  # a category page: no product
    return [str(item[1]).strip() or NO_NAME]


def _skus(item: list[Any]) -> list[str]:
    return [str(item[0])] if str(item[0]).strip() else []


NO_CATEGORY = "Product Category not defined"
NO_NAME = "Product Name not defined"


@method("Goals.getItemsSku")
def items_by_sku(query: Query) -> Report:
    """Ordered (or, with abandonedCarts=1, abandoned) items by SKU."""
    return _items_by(query, _skus, "productSku")


@method("Goals.getItemsName")
def items_by_name(query: Query) -> Report:
    """Ordered (or abandoned) items by product name."""
    return _items_by(query, _names, "productName")


@method("Goals.getItemsCategory")
def items_by_category(query: Query) -> Report:
    """Ordered (or abandoned) items by category (an item in several counts in each)."""
    return _items_by(query, _categories, "productCategory")
