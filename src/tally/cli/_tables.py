"""Tables that fit the terminal, and the same rows as JSON for scripts.

Rich cuts a cell that does not fit with an ellipsis, and a pipe or a log is 80 columns wide
for it: lake keys like ``thirdparty/external/google-play/…`` lost their end, the part that
names the file. Every cell here folds onto the next line instead, so nothing is lost.
"""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table


def wide_table(*headers: str) -> Table:
    """A rich table whose cells wrap (fold) where they do not fit, never cut."""
    table = Table(*headers)
    for column in table.columns:
        column.overflow = "fold"
    return table


def print_json(rows: Any) -> None:
    """Rows (or any JSON-able value) on standard output, dates and decimals as strings."""
    print(json.dumps(rows, default=str, indent=1))
