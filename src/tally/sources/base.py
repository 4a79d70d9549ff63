"""What every source dataset provides, and the shapes parsing returns.

A dataset lands one or more raw files per day in the lake (``fetch`` from the real API or
``sample`` for demo data), and ``parse`` turns one raw file into a typed Arrow table plus the
rows it could not read. Loading, quarantine and the ledger are the pipeline's job.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from tally.config import Settings
    from tally.sources.delimited import Layout
    from tally.sources.demo import DemoWorld


@dataclass(frozen=True)
class BadRow:
    """One input row that could not be read, with where and why."""

    file: str
    line: int
    field: str | None
    reason: str
    raw: str = ""


@dataclass
class Parsed:
    """A parsed raw file: the good rows, typed, and the bad rows, explained."""

    table: pa.Table
    bad_rows: list[BadRow] = field(default_factory=list)
    rows_read: int = 0
    unknown_columns: list[str] = field(default_factory=list)

    @property
    def bad_share(self) -> float:
        return len(self.bad_rows) / self.rows_read if self.rows_read else 0.0


class Dataset(ABC):
    """One dataset of one source, e.g. itunes / subscription-events."""

    source: str
    name: str
    zone: str  # "internal" or "external": the lake key's second folder
    staging_table: str
    in_dataset_folder: bool = True  # False where the seed's key has no dataset folder
    # True where each day's file holds every day of its month so far (Google's monthly files
    # that grow daily): its row count climbs all month and drops on the 1st by design.
    cumulative: bool = False
    # Hours after the partition day ends (UTC) by which the origin should have published it:
    # before then "not ready" is expected and retried quietly, after it the day fails (and
    # alerts). ``[sources.<name>] deadline_hours`` overrides it: a number, or dataset → hours.
    deadline_hours: float = 36.0
    # Set where ``parse`` is exactly ``read_delimited`` of the (gunzipped) file with this
    # layout (plus the constant columns of ``file_columns``): a warehouse that reads files
    # itself, or its cluster, may then parse them in place.
    layout: Layout | None = None
    # the columns that name one event (a billing transaction, an order): a row repeating a
    # key already loaded is a duplicate or a revision, counted in the ledger's
    # rows_duplicate; which copy counts is the dataset's staging model's rule
    # (docs/metrics.md, "Duplicates and revisions"). Empty: the rows have no event ids.
    event_key: tuple[str, ...] = ()

    @property
    def lake_dataset(self) -> str | None:
        return self.name if self.in_dataset_folder else None

    @abstractmethod
    def file_names(self, day: dt.date, settings: Settings) -> list[str]:
        """The raw file names this dataset lands for one day."""

    @abstractmethod
    def fetch(self, day: dt.date, settings: Settings) -> dict[str, bytes]:
        """Download one day's raw files from the real origin: file name → bytes."""

    @abstractmethod
    def parse(self, data: bytes, file_name: str) -> Parsed:
        """Read one raw file into a typed table; never raise for a bad row."""

    @abstractmethod
    def sample(self, day: dt.date, world: DemoWorld) -> dict[str, bytes]:
        """Realistic demo files for one day, in the real format: file name → bytes."""

    def file_columns(self, file_name: str) -> dict[str, Any]:
        """Columns every row of a file gets from its name (a report's day, say): what
        ``parse`` adds to ``read_delimited``'s rows, added by the in-place readers too.
        Raises ``BadInputError`` for a name that does not say them."""
        return {}

    # True where the dataset reads its files on a cluster itself (``read_on_cluster``)
    # rather than by a ``layout``
    cluster_reader: bool = False

    def read_on_cluster(self, spark: Any, url: str, key: str, compressed: bool, head: bytes) -> Any:
        """The file at ``url`` read by the cluster (a ``delimited_spark.ClusterRead``), with
        the result of ``parse``; raises ``delimited_sql.NativeReadError`` where it cannot."""
        raise NotImplementedError(f"{self.key} is read on a cluster by its layout")

    def check(self, settings: Settings) -> str:
        """Verify credentials and reachability; say what was found, raise TallyError if not."""
        raise NotImplementedError(f"{self.key} has no reachability check")

    @property
    def key(self) -> str:
        return f"{self.source}/{self.name}"
