"""A simulated subscription service that every source's demo data is drawn from.

One ``DemoWorld`` holds subscribers and their subscription periods over a date range, so
the App Store's reports, Google's reports and the internal exports all describe the same
people. It is deterministic: the same seed and range give the same world.

The lifecycle simulated per subscription: an optional 7-day free trial, monthly paid
periods, auto-renew turned off some days before an expiry (voluntary churn), billing retry
(involuntary churn, sometimes recovered), grace period, refunds, and former subscribers who
come back (reactivation).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from functools import cached_property

PLANS = (
    # product id, plan code, plan name, platform, channel, sector, price HKD, price SGD
    (
        "com.tally.video.monthly",
        "PREMIUM_M",
        "Premium Monthly",
        "iOS IAP",
        "App Store",
        "Store",
        68.0,
        11.98,
    ),
    (
        "com.tally.video.monthly.hd",
        "PREMIUM_HD_M",
        "Premium HD Monthly",
        "iOS IAP",
        "App Store",
        "Store",
        88.0,
        14.98,
    ),
    (
        "tally_video_monthly",
        "PREMIUM_M",
        "Premium Monthly",
        "Android IAP",
        "Google Play",
        "Store",
        68.0,
        11.98,
    ),
    ("csl_premium_monthly", "CSL_M", "CSL Premium Monthly", "Telco", "CSL", "Telco", 58.0, 0.0),
    (
        "promo_galaxy_tab",
        "SAMSUNG_TAB_PROMO",
        "Samsung Galaxy Tablet Promotion",
        "Redemption",
        "Redemption Campaign",
        "Partner",
        0.0,
        0.0,
    ),
)

COUNTRIES = (("HK", "HKD", 60), ("SG", "SGD", 25))  # code, currency, new subscribers a day

SERIES = (  # series id, title, countries licensed: one new episode a week in each
    (101, "Harbour Lights", ("HK", "SG")),
    (102, "Golden Hour", ("HK",)),
    (103, "Lion City Nights", ("SG",)),
)


@dataclass(frozen=True)
class Plan:
    product_id: str
    plan_code: str
    plan_name: str
    platform: str
    channel: str
    sector: str
    price_hkd: float
    price_sgd: float

    def price(self, currency: str) -> float:
        return self.price_hkd if currency == "HKD" else self.price_sgd


@dataclass(frozen=True)
class Release:
    """One episode made available in one country (the content team's CMS row)."""

    series_id: int
    series_title: str
    episode_id: int
    episode_number: int
    episode_title: str
    country: str
    release_date: dt.date
    licence_start: dt.date
    licence_end: dt.date  # exclusive


@dataclass
class Period:
    """One billed (or free) stretch of a subscription."""

    start: dt.date
    end: dt.date  # exclusive: the first day without access
    kind: str  # "trial" or "paid"
    price: float
    refunded_on: dt.date | None = None
    billing_retry_days: int = 0  # days spent in billing retry before this period started
    grace: bool = False  # started after a grace period recovery


@dataclass
class Subscription:
    subscription_id: str
    user_id: str
    country: str
    currency: str
    plan: Plan
    periods: list[Period] = field(default_factory=list)
    auto_renew_off_on: dt.date | None = None
    reactivation: bool = False
    churn_reason: str = ""  # "voluntary", "billing" or "" while active

    @property
    def start(self) -> dt.date:
        return self.periods[0].start

    @property
    def end(self) -> dt.date:
        return self.periods[-1].end

    def active_on(self, day: dt.date) -> bool:
        return any(p.start <= day < p.end for p in self.periods)


class DemoWorld:
    """Subscribers of a streaming service in HK and SG between two dates."""

    def __init__(self, seed: int, start: dt.date, end: dt.date, scale: float = 1.0) -> None:
        self.seed = seed
        self.start = start
        self.end = end  # inclusive
        self.scale = scale
        self.plans = [Plan(*row) for row in PLANS]
        self._random = random.Random(seed)
        self.subscriptions: list[Subscription] = []
        self._simulate()

    # -- simulation --------------------------------------------------------------------

    def _simulate(self) -> None:
        # churned subscriptions by their last day, so a day's returners are one lookup
        # rather than a scan of every subscription so far
        churned_on: dict[dt.date, list[Subscription]] = {}

        def add(subscription: Subscription) -> None:
            self.subscriptions.append(subscription)
            if subscription.churn_reason:
                churned_on.setdefault(subscription.end, []).append(subscription)

        # history begins 90 days early so the first demo day already has a base of subscribers
        day = self.start - dt.timedelta(days=90)
        while day <= self.end:
            for country, currency, per_day in COUNTRIES:
                weekend = 1.3 if day.weekday() >= 5 else 1.0
                arrivals = self._poisson(per_day * weekend * self.scale)
                for _ in range(arrivals):
                    add(self._new_subscription(day, country, currency))
            for old in self._returning(churned_on.get(day - dt.timedelta(days=30), [])):
                add(
                    self._new_subscription(
                        day, old.country, old.currency, user_id=old.user_id, reactivation=True
                    )
                )
            day += dt.timedelta(days=1)

    def _poisson(self, mean: float) -> int:
        # Knuth's method is fine for the small means used here
        limit, product, count = pow(2.718281828459045, -mean), self._random.random(), 0
        while product > limit:
            product *= self._random.random()
            count += 1
        return count

    def _returning(self, lapsed_30_days: list[Subscription]) -> list[Subscription]:
        """Who of those whose subscription ended 30 days ago comes back today."""
        return [
            subscription
            for subscription in lapsed_30_days
            if self._random.random() < 0.15 and not subscription.reactivation
        ]

    def _new_subscription(
        self,
        day: dt.date,
        country: str,
        currency: str,
        user_id: str | None = None,
        reactivation: bool = False,
    ) -> Subscription:
        rng = self._random
        plans = [p for p in self.plans if country == "HK" or p.platform != "Telco"]
        plan = rng.choices(plans, weights=[40, 10, 35, 10, 5][: len(plans)])[0]
        number = len(self.subscriptions) + 1
        subscription = Subscription(
            subscription_id=f"S{number:08d}",
            user_id=user_id or f"U{number:08d}",
            country=country,
            currency=currency,
            plan=plan,
            reactivation=reactivation,
        )
        price = plan.price(currency)
        if plan.platform == "Redemption":
            subscription.periods.append(Period(day, day + dt.timedelta(days=30), "paid", 0.0))
            subscription.churn_reason = "voluntary"
            return subscription
        cursor = day
        if not reactivation and plan.platform != "Telco" and rng.random() < 0.4:
            subscription.periods.append(Period(day, day + dt.timedelta(days=7), "trial", 0.0))
            cursor = day + dt.timedelta(days=7)
            if rng.random() < 0.35:
                subscription.auto_renew_off_on = day + dt.timedelta(days=rng.randint(1, 6))
                subscription.churn_reason = "voluntary"
                return subscription
        retry_days, grace = 0, False
        horizon = self.end + dt.timedelta(days=1)
        while cursor < horizon:
            period = Period(cursor, _add_month(cursor), "paid", price, None, retry_days, grace)
            subscription.periods.append(period)
            retry_days, grace = 0, False
            if rng.random() < 0.01:
                period.refunded_on = cursor + dt.timedelta(days=rng.randint(1, 10))
                subscription.churn_reason = "voluntary"
                return subscription
            draw = rng.random()
            if draw < 0.07:  # turns auto-renew off, keeps access until the period ends
                subscription.auto_renew_off_on = period.end - dt.timedelta(days=rng.randint(1, 20))
                subscription.churn_reason = "voluntary"
                return subscription
            if draw < 0.10:  # card fails at renewal
                retry = rng.randint(1, 10)
                if rng.random() < 0.5:
                    subscription.churn_reason = "billing"
                    return subscription
                retry_days = retry
                cursor = period.end + dt.timedelta(days=retry)
                continue
            if draw < 0.12:
                grace = True
            cursor = period.end
        return subscription

    # -- views for the sources ---------------------------------------------------------

    @cached_property
    def by_start(self) -> dict[dt.date, list[Subscription]]:
        index: dict[dt.date, list[Subscription]] = {}
        for subscription in self.subscriptions:
            index.setdefault(subscription.start, []).append(subscription)
        return index

    def active_on(self, day: dt.date) -> list[Subscription]:
        return [s for s in self.subscriptions if s.start <= day < s.end and s.active_on(day)]

    def plan_for_product(self, product_id: str) -> Plan:
        return next(p for p in self.plans if p.product_id == product_id)

    @cached_property
    def releases(self) -> list[Release]:
        """Weekly episodes of each country's series, released on the week's busiest sign-up
        day there, so the CMS's release dates line up with the subscription bumps."""
        found: list[Release] = []
        numbers: dict[tuple[int, str], int] = {}
        monday = self.start - dt.timedelta(days=90)
        monday -= dt.timedelta(days=monday.weekday())
        while monday <= self.end:
            for country, *_ in COUNTRIES:
                day = self._busiest_day(monday, country)
                for series_id, title, countries in SERIES:
                    if country in countries:
                        number = numbers.get((series_id, country), 0) + 1
                        numbers[(series_id, country)] = number
                        episode = (series_id * 1000 + number, number, f"{title} episode {number}")
                        until = day + dt.timedelta(days=365)
                        found.append(Release(series_id, title, *episode, country, day, day, until))
            monday += dt.timedelta(days=7)
        return found

    def _busiest_day(self, monday: dt.date, country: str) -> dt.date:
        """The day of the week starting ``monday`` with the most first-time sign-ups."""
        week = [monday + dt.timedelta(days=d) for d in range(7)]
        return max(
            week,
            key=lambda day: sum(
                1 for s in self.by_start.get(day, []) if s.country == country and not s.reactivation
            ),
        )


def _add_month(day: dt.date) -> dt.date:
    """The same day next month, clamped to the month's last day (how stores bill)."""
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    for candidate in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")
