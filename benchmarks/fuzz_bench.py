"""Fuzz every source parser: seeded mutations of real-format demo files, zero escapes allowed.

For each dataset in ``tally.sources`` (and, for datasets with a plain delimited layout, the
in-warehouse reader ``delimited_sql.stage_delimited`` on DuckDB) the demo files of one day
are mutated many times over and parsed. Anything a parser raises that is not a
``TallyError`` is an *escape*: it would end a load with a traceback instead of a quarantined
row or file. Mutations work on the text inside the compression (and then compress again)
as well as on the compressed bytes: byte flips, insertions of delimiters, quotes, line
breaks, NULs and invalid UTF-8, deleted and repeated ranges, truncation, a 50-digit number
or ``1e999`` in place of a value, a line over the length limit, the whole file as UTF-16.

``tests/sources/test_fuzz.py`` runs a few hundred mutations per parser in ``make test``;
``make fuzz`` (also part of ``make bench``) runs this script with 10,000 per parser.

Usage: python benchmarks/fuzz_bench.py [--count 10000] [--seed 24] [--only itunes/...]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import gzip
import io
import os
import platform
import random
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tally.errors import TallyError
from tally.sources import Dataset, all_datasets
from tally.sources.delimited import MAX_LINE_BYTES
from tally.sources.demo import DemoWorld

DAY = dt.date(2026, 3, 2)
SPECIAL = [
    b"\xff",
    b"\xc3",
    b"\x00",
    b"\r",
    b"\n",
    b"\r\n",
    b'"',
    b",",
    b"\t",
    b";",
    b"\xef\xbb\xbf",
    b"9" * 50,
    b"-" + b"9" * 25,
    b"1e999",
    b"NaN",
    b"2016-02-30",
    b"{",
    b"[",
    b"}",
    b"null",
    b"\\",
]


def seed_files(scale: float = 0.01) -> dict[str, list[tuple[str, bytes]]]:
    """Each dataset's demo files for one day (small: a few dozen rows each)."""
    world = DemoWorld(24, DAY - dt.timedelta(days=3), DAY, scale=scale)
    return {
        key: sorted(dataset.sample(DAY, world).items())
        for key, dataset in sorted(all_datasets().items())
    }


def _unwrap(data: bytes) -> tuple[str, bytes, str]:
    """(container, inner bytes, inner name): 'gzip', 'zip' or 'plain'."""
    if data[:2] == b"\x1f\x8b":
        return "gzip", gzip.decompress(data), ""
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as bundle:
            name = bundle.namelist()[0]
            return "zip", bundle.read(name), name
    return "plain", data, ""


def _wrap(container: str, inner: bytes, name: str) -> bytes:
    if container == "gzip":
        return gzip.compress(inner, compresslevel=1, mtime=0)
    if container == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
            bundle.writestr(name, inner)
        return buffer.getvalue()
    return inner


def mutate_text(data: bytes, rng: random.Random) -> bytes:
    """One to three edits of the text."""
    for _ in range(rng.choice((1, 1, 2, 3))):
        size = len(data)
        at = rng.randrange(size + 1)
        kind = rng.randrange(12)
        if kind == 0 and size:  # flip a byte
            data = data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]
        elif kind in (1, 2):  # insert a token
            data = data[:at] + rng.choice(SPECIAL) + data[at:]
        elif kind == 3:  # delete a range
            data = data[:at] + data[at + rng.randrange(1, 64) :]
        elif kind == 4 and size:  # repeat a range
            end = min(size, at + rng.randrange(1, 200))
            data = data[:end] + data[at:end] + data[end:]
        elif kind == 5:  # truncate
            data = data[:at]
        elif kind == 6:  # replace the value between two delimiters
            start = max(data.rfind(b",", 0, at), data.rfind(b"\t", 0, at)) + 1
            stop = min(
                (p for p in (data.find(b",", at), data.find(b"\t", at)) if p >= 0), default=at
            )
            data = data[:start] + rng.choice(SPECIAL[11:16]) + data[max(start, stop) :]
        elif kind == 7 and rng.random() < 0.2:  # a line over the limit
            data = data[:at] + b"x" * (MAX_LINE_BYTES + 1) + data[at:]
        elif kind == 8 and rng.random() < 0.3:  # the whole file as UTF-16
            text = data.decode("utf-8", errors="replace")
            bom = rng.choice((b"\xff\xfe", b""))
            data = bom + text.encode("utf-16-le")
        elif kind == 9:  # random bytes
            data = data[:at] + rng.randbytes(rng.randrange(1, 16)) + data[at:]
        elif kind == 10:  # drop the first line
            data = data[data.find(b"\n") + 1 :]
        elif kind == 11 and size:  # swap two lines
            lines = data.split(b"\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            data = b"\n".join(lines)
    return data


def mutate(data: bytes, rng: random.Random) -> bytes:
    """A mutant of a raw file: mostly of its text (compressed again), else of its bytes."""
    container, inner, name = _unwrap(data)
    if container == "plain" or rng.random() < 0.7:
        return _wrap(container, mutate_text(inner, rng), name)
    raw = bytearray(data)
    if rng.random() < 0.5:
        return bytes(raw[: rng.randrange(len(raw))])  # truncated
    for _ in range(rng.randrange(1, 4)):
        raw[rng.randrange(len(raw))] = rng.randrange(256)
    return bytes(raw)


@dataclass
class Outcome:
    parser: str
    runs: int = 0
    accepted: int = 0  # parsed (possibly with bad rows)
    refused: int = 0  # TallyError: the file is quarantined with the reason
    bad_rows: int = 0
    seconds: float = 0.0
    escapes: collections.Counter[str] = field(default_factory=collections.Counter)
    examples: dict[str, str] = field(default_factory=dict)


def fuzz(
    name: str, parse: Callable[[bytes, str], int], files: list[tuple[str, bytes]], count: int,
    seed: int,
) -> Outcome:  # fmt: skip
    """Parse ``count`` mutants; ``parse`` returns the bad rows it found."""
    rng = random.Random(f"{seed}/{name}")
    outcome = Outcome(name)
    started = time.perf_counter()
    for _ in range(count):
        file_name, data = rng.choice(files)
        mutant = mutate(data, rng)
        outcome.runs += 1
        try:
            outcome.bad_rows += parse(mutant, file_name)
            outcome.accepted += 1
        except TallyError:
            outcome.refused += 1
        except Exception as error:  # noqa: BLE001 - what we count
            frame = traceback.extract_tb(error.__traceback__)[-1]
            where = f"{type(error).__name__} at {Path(frame.filename).name}:{frame.lineno}"
            outcome.escapes[where] += 1
            outcome.examples.setdefault(where, f"{error}"[:200])
    outcome.seconds = time.perf_counter() - started
    return outcome


def python_parser(dataset: Dataset) -> Callable[[bytes, str], int]:
    def parse(data: bytes, file_name: str) -> int:
        return len(dataset.parse(data, file_name).bad_rows)

    return parse


def sql_parser(dataset: Dataset, folder: Path) -> Callable[[bytes, str], int] | None:
    """The in-warehouse reader on DuckDB, for datasets it reads; falls back as the load does."""
    from tally.sources.delimited_sql import NativeReadError, can_stage, stage_delimited
    from tally.warehouse import connect

    layout = dataset.layout
    if layout is None or not can_stage(layout):
        return None
    path = folder / "mutant"

    def parse(data: bytes, file_name: str) -> int:
        path.write_bytes(data)
        warehouse = connect("duckdb:///:memory:")
        try:
            with warehouse.session():  # its temporary tables live as long as the session
                staged = stage_delimited(warehouse, str(path), file_name, layout, "fuzzed")
        except NativeReadError:
            return len(dataset.parse(data, file_name).bad_rows)
        finally:
            warehouse.close()
        return len(staged.bad_rows)

    return parse


def parsers(folder: Path) -> dict[str, Callable[[bytes, str], int]]:
    found: dict[str, Callable[[bytes, str], int]] = {}
    for key, dataset in sorted(all_datasets().items()):
        found[key] = python_parser(dataset)
        sql = sql_parser(dataset, folder)
        if sql is not None:
            found[f"{key} (delimited_sql)"] = sql
    return found


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--count", type=int, default=10_000, help="mutations per parser")
    options.add_argument("--seed", type=int, default=24)
    options.add_argument("--only", default="", help="parsers whose name contains this")
    arguments = options.parse_args()
    seeds = seed_files()
    total_escapes = 0
    print(f"# {arguments.count:,} mutations per parser, seed {arguments.seed}, "
          f"{platform.node()} ({os.cpu_count()} cores), load {os.getloadavg()[0]:.2f}")  # fmt: skip
    print("| parser | mutants | parsed | refused (file quarantined) | bad rows | escapes | s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as folder:
        for name, parse in parsers(Path(folder)).items():
            if arguments.only not in name:
                continue
            files = seeds[name.split(" ")[0]]
            outcome = fuzz(name, parse, files, arguments.count, arguments.seed)
            escapes = sum(outcome.escapes.values())
            total_escapes += escapes
            counts = (outcome.runs, outcome.accepted, outcome.refused, outcome.bad_rows)
            row = " | ".join(f"{n:,}" for n in counts)
            print(f"| {name} | {row} | {escapes} | {outcome.seconds:.1f} |", flush=True)
            for where, times in outcome.escapes.most_common():
                print(f"    {times} × {where}: {outcome.examples[where]}", file=sys.stderr)
    print(f"# escapes: {total_escapes}; load {os.getloadavg()[0]:.2f} at the end")
    return 1 if total_escapes else 0


if __name__ == "__main__":
    sys.exit(main())
