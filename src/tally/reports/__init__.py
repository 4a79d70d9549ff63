"""Excel subscription reports per country × period, and GETPIVOTDATA ↔ SQL.

Modules: ``fact`` (the report_fact table, headers, periods), ``summary`` (the Summary
sheet's numbers), ``workbook`` (XlsxWriter), ``pivottable`` (pivot tables as OOXML parts),
``template`` (refill an analyst's workbook), ``pivot`` (GETPIVOTDATA → parameterised SQL),
``export`` (CSV/Parquet), ``recalc`` (LibreOffice headless), ``subscription`` (one report
end to end).
"""

from __future__ import annotations

from tally.reports.pivot import PivotError, evaluate
from tally.reports.subscription import Written, write_all_reports, write_subscription_report

__all__ = ["PivotError", "Written", "evaluate", "write_all_reports", "write_subscription_report"]
