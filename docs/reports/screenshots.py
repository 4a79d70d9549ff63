"""Render the screenshots linked from docs/reports.md (LibreOffice → PDF → PNG).

Usage (a warehouse built by `tally demo`; needs libreoffice-calc and poppler-utils):
    python docs/reports/screenshots.py --warehouse duckdb:///PATH/warehouse.duckdb \
        --date 2026-12-03
Writes docs/reports/*.png: the Summary of a weekly and a monthly workbook, and a pivot sheet.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
from pathlib import Path

from tally.config import load_settings
from tally.reports.recalc import recalculate, render_png
from tally.reports.subscription import write_subscription_report
from tally.warehouse import connect

HERE = Path(__file__).parent
SHOTS = [
    # (file, period, page showing this text)
    ("summary-weekly.png", "weekly", None),
    ("summary-monthly.png", "monthly", None),
    ("pivot-sheet.png", "weekly", "Pivot table of 'New subscriber'"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--country", default="HK")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tally-shots-") as scratch:
        root = Path(scratch)
        settings = load_settings(
            environ={"TALLY_DATA_DIR": str(root / "data"), "TALLY_WAREHOUSE_URL": args.warehouse}
        )
        warehouse = connect(args.warehouse)
        for name, period, showing in SHOTS:
            written = write_subscription_report(
                warehouse, settings, args.country, period, args.date, root=str(root / name)
            )
            # Recalculated and pivots refreshed first, as a user opening it would see it.
            (fresh,) = recalculate([Path(written.location)], root / f"{name}-fresh")
            png = render_png(fresh, root / f"{name}-png", showing=showing)
            shutil.copy(png, HERE / name)
            print(f"wrote {HERE / name}")
        warehouse.close()


if __name__ == "__main__":
    main()
