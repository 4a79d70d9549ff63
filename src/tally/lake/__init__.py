"""The raw lake: immutable files under seed-shaped keys, on local disk or S3 (fsspec)."""

from tally.lake.keys import LakeKey, lake_key, parse_key
from tally.lake.store import Lake, PutResult

__all__ = ["Lake", "LakeKey", "PutResult", "lake_key", "parse_key"]
