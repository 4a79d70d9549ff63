"""Excel subscription reports per country × period, and GETPIVOTDATA ↔ SQL.

Modules: ``fact`` (the report_fact table, headers, periods), ``summary`` (the Summary
sheet's numbers), ``workbook`` (XlsxWriter), ``pivottable`` (pivot tables as OOXML parts),
``template`` (refill an analyst's workbook), ``pivot`` (GETPIVOTDATA → parameterised SQL),
``export`` (CSV/Parquet), ``recalc`` (LibreOffice headless), ``subscription`` (one report
end to end).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Exports are imported on first use: `tally pivot` needs only ``pivot``, not XlsxWriter,
# fsspec and the workbook writer that ``subscription`` brings (start-up time, issue 22).
_EXPORTS = {
    "PivotError": "tally.reports.pivot",
    "evaluate": "tally.reports.pivot",
    "Written": "tally.reports.subscription",
    "write_all_reports": "tally.reports.subscription",
    "write_subscription_report": "tally.reports.subscription",
}

__all__ = ["PivotError", "Written", "evaluate", "write_all_reports", "write_subscription_report"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tally.reports' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
