"""Render the screenshots linked from docs/reports.md (LibreOffice → PDF → PNG).

Usage (a warehouse built by `tally demo`; needs libreoffice-calc and poppler-utils):
    python docs/reports/screenshots.py --warehouse duckdb:///PATH/warehouse.duckdb \
        --date 2026-12-03
Writes docs/reports/*.png: the Summary of a weekly and a monthly workbook, a pivot sheet,
the store figures sheet, and the first page of each of the seed's other reports.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
from pathlib import Path

from tally.config import load_settings
from tally.reports.recalc import recalculate, render_png
from tally.reports.seedreports import write_seed_report
from tally.reports.subscription import write_subscription_report
from tally.warehouse import connect

HERE = Path(__file__).parent
SHOTS = [
    # (file, report, period, page showing this text)
    ("summary-weekly.png", "subscription", "weekly", None),
    ("summary-monthly.png", "subscription", "monthly", None),
    ("pivot-sheet.png", "subscription", "weekly", "Pivot table of 'New subscriber'"),
    ("store-figures.png", "subscription", "weekly", "What the stores report"),
    ("yellow-report.png", "yellow", "daily", None),
    ("ad-report.png", "ad", "daily", "Ad units serving each placement"),
    ("telco-report.png", "telco", "monthly", None),
    ("content-window-report.png", "content-window", "daily", None),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--country", default="HK")
    parser.add_argument("--only", help="render only the screenshots whose file holds this")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tally-shots-") as scratch:
        root = Path(scratch)
        settings = load_settings(
            environ={"TALLY_DATA_DIR": str(root / "data"), "TALLY_WAREHOUSE_URL": args.warehouse}
        )
        warehouse = connect(args.warehouse)
        for name, report, period, showing in SHOTS:
            if args.only and args.only not in name:
                continue
            if report == "subscription":
                written = write_subscription_report(
                    warehouse, settings, args.country, period, args.date, root=str(root / name)
                )
            else:
                written = write_seed_report(
                    warehouse,
                    settings,
                    report,
                    args.country,
                    period,
                    args.date,
                    root=str(root / name),
                )
            # Recalculated and pivots refreshed first, as a user opening it would see it.
            (fresh,) = recalculate([Path(written.location)], root / f"{name}-fresh")
            png = render_png(fresh, root / f"{name}-png", showing=showing)
            shutil.copy(png, HERE / name)
            print(f"wrote {HERE / name}")
        warehouse.close()


if __name__ == "__main__":
    main()
