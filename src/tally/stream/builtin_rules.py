"""Rules tally keeps on itself, on by default (``stream.builtin_rules = false`` turns them off;
a rules file may redefine any of them by name).

| rule | fires when |
| --- | --- |
| tally_run_failed | the latest run of a job/source/dataset failed (resolves on its next success) |
| tally_source_stale | a source has not landed since its last scheduled time plus grace |
| tally_load_rows_unusual | a load's rows_out is far from its dataset's EWMA baseline (*) |
| tally_quarantine_share | a load quarantined more than the allowed share of its rows |
| tally_traffic_drop | a site's hits in 15 minutes fall far below its usual for that hour |
| tally_subscriber_gap | tally's subscriber count and a store's own differ beyond tolerance |

(*) Not for the month-to-date datasets of ``stream.cumulative_datasets``: their count climbs
all month and drops on the 1st by design.
"""

from __future__ import annotations

from typing import Any

from tally.config import Settings
from tally.stream.rules import RuleSpec, parse_rules
from tally.stream.settings import StreamSettings


def schedules(settings: Settings, stream: StreamSettings) -> dict[str, str]:
    """Expected landing per source: ``stream.schedules``, else each source's ``schedule``,
    and iTunes' own ``itunes.schedule`` (in its time zone)."""
    found: dict[str, str] = {}
    for name, options in settings.source_sections().items():
        # iTunes always has one (Apple's 09:00 Pacific); another source once it sets one,
        # in its own zone when it names one
        zoned = name == "itunes" or "schedule_timezone" in options.model_fields_set
        if options.schedule:
            zone = options.schedule_timezone
            found[name] = f"CRON_TZ={zone} {options.schedule}" if zoned else options.schedule
    found.update(stream.schedules)
    return found


def builtin_rules(settings: Settings, stream: StreamSettings) -> list[RuleSpec]:
    share = stream.max_quarantine_share
    rules: list[dict[str, Any]] = [
        {
            "name": "tally_run_failed",
            "type": "threshold",
            "source": "tally.runs",
            "key_from": "step_key",
            "field": "failed",
            "aggregate": "max",
            "window": {"kind": "each"},
            "op": ">",
            "value": 0,
            "labels": {"severity": "critical", "team": "data"},
            "copy_labels": ["job", "source", "dataset", "partition_date", "run_id", "error"],
            "summary": "{key}: the latest run failed",
            "resolved_summary": "{key}: the latest run succeeded again",
        },
        {
            "name": "tally_source_stale",
            "type": "freshness",
            "source": "tally.runs",
            "match": {"job": "ingest", "status": "ok"},
            "schedules": schedules(settings, stream),
            "grace": "3h",
            "key_label": "source",
            "labels": {"severity": "warning", "team": "data"},
            "summary": "{key} has not landed for {value:.0f} s past its schedule and grace",
            "resolved_summary": "{key} has landed again",
        },
        {
            "name": "tally_load_rows_unusual",
            "type": "anomaly",
            "source": "tally.runs",
            "match": {"job": "load", "status": "ok"},
            # a month-to-date file's rows are the month so far: no daily baseline fits them
            "unless": {"dataset_key": list(stream.cumulative_datasets)},
            "key_from": "dataset_key",
            "field": "rows_out",
            "aggregate": "max",
            "window": {"kind": "each"},
            "z": 4,
            "warmup": 5,
            "alpha": 0.2,
            "min_std_share": 0.1,
            "copy_labels": ["source", "dataset", "partition_date"],
            "labels": {"severity": "warning", "team": "data"},
            "summary": "{key}: rows loaded are {value:.1f} standard deviations from usual",
            "resolved_summary": "{key}: rows loaded are back within the usual ({value:.1f} σ)",
        },
        {
            "name": "tally_quarantine_share",
            "type": "threshold",
            "source": "tally.runs",
            "match": {"job": "load"},
            "key_from": "dataset_key",
            "field": "quarantined_share",
            "aggregate": "max",
            "window": {"kind": "each"},
            "op": ">",
            "value": settings.quarantine_threshold if share is None else share,
            "copy_labels": ["source", "dataset", "partition_date"],
            "labels": {"severity": "warning", "team": "data"},
            "summary": "{key}: {value:.1%} of rows quarantined",
            "resolved_summary": "{key}: quarantine back under the threshold ({value:.1%})",
        },
        {
            "name": "tally_traffic_drop",
            "type": "anomaly",
            "source": "tally.hits",
            "field": "hits",
            "aggregate": "sum",
            "window": {"kind": "tumbling", "size": "15m", "lateness": "5m"},
            "seasonal": "hour_of_day",
            "direction": "below",
            "z": 3,
            "warmup": 4,
            "alpha": 0.3,
            "min_std_share": 0.1,
            "key_label": "idsite",
            "labels": {"severity": "warning", "team": "web"},
            "summary": "site {key}: traffic {value:.1f} standard deviations below usual",
            "resolved_summary": "site {key}: traffic back to usual ({value:.1f} σ)",
        },
        {
            "name": "tally_subscriber_gap",
            "type": "threshold",
            "source": "tally.subscribers",
            "field": "gap_share",
            "aggregate": "max",
            "window": {"kind": "each"},
            "op": ">",
            "value": stream.subscriber_gap_tolerance,
            "key_label": "store",
            "labels": {"severity": "warning", "team": "data"},
            "summary": "{key}: tally and the store's own count differ by {value:.1%}",
            "resolved_summary": "{key}: tally and the store's own count agree again ({value:.1%})",
        },
    ]
    return parse_rules(rules, where="built-in rules")
