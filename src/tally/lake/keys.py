"""Lake key layout, as the seed lays it out.

``thirdparty/{internal|external}/<source>/[<dataset>/]YYYY/MM/DD/<file>``, e.g.
``thirdparty/external/itunes/subscription-events/2016/10/23/Subscription_Event_85082573_20161023.txt.gz``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

ZONES = ("internal", "external")

_KEY = re.compile(
    r"^thirdparty/(?P<zone>internal|external)/(?P<source>[^/]+)/"
    r"(?:(?P<dataset>[^/]+)/)?(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<file>[^/]+)$"
)


@dataclass(frozen=True)
class LakeKey:
    zone: str
    source: str
    dataset: str | None
    day: dt.date
    file: str

    def __str__(self) -> str:
        return lake_key(self.zone, self.source, self.dataset, self.day, self.file)


def lake_key(zone: str, source: str, dataset: str | None, day: dt.date, file: str) -> str:
    """The key of one raw file; ``dataset`` is left out for sources that have one folder."""
    if zone not in ZONES:
        raise ValueError(f"zone must be one of {ZONES}, got {zone!r}")
    if "/" in file or not file:
        raise ValueError(f"file name must be a plain name, got {file!r}")
    middle = f"{source}/{dataset}" if dataset else source
    return f"thirdparty/{zone}/{middle}/{day:%Y/%m/%d}/{file}"


def parse_key(key: str) -> LakeKey | None:
    """The parts of a seed-shaped key, or None for any other key."""
    match = _KEY.match(key)
    if not match:
        return None
    day = dt.date(int(match["y"]), int(match["m"]), int(match["d"]))
    return LakeKey(match["zone"], match["source"], match["dataset"], day, match["file"])
