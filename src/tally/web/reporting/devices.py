"""DevicesDetection by brand, model, operating system family and browser, as device-detector
(Matomo's own detection rules) named them when the hit was loaded."""

from __future__ import annotations

from urllib.parse import quote

from device_detector.parser.settings import FAMILY_FROM_OS, OS_TO_ABBREV

from tally.web.reporting.methods import Query, Report, Row, device_type_label, method
from tally.web.reporting.visit_groups import visit_groups

UNKNOWN = "Unknown"


def _segment(name: str, value: object) -> str:
    return f"{name}=={quote(str(value or ''), safe='')}"


@method("DevicesDetection.getBrand")
def brands(query: Query) -> Report:
    """Visits by device brand (Apple, Samsung, ...); desktops usually have none: Unknown."""
    return [
        {"label": brand or UNKNOWN, **metrics}
        for (brand,), metrics in visit_groups(query, ["h.device_brand"])
    ]


@method("DevicesDetection.getModel")
def models(query: Query) -> Report:
    """Visits by device model, labelled ``Brand - Model`` as Matomo does; a device with
    neither brand nor model is Matomo's "Generic <type>" ("Generic Desktop")."""
    rows: list[Row] = []
    bare_type = (
        "CASE WHEN coalesce(h.device_brand, '') = '' AND coalesce(h.device_model, '') = '' "
        "THEN v.device_type END"
    )
    for (brand, model, device_type), metrics in visit_groups(
        query, ["h.device_brand", "h.device_model", bare_type]
    ):
        if not brand and not model:
            label = generic_model(device_type)
        else:
            label = f"{brand or UNKNOWN} - {model or UNKNOWN}"
        rows.append({"label": label, **metrics})
    return rows


def generic_model(device_type: object) -> str:
    """Matomo's model label when the detection found neither brand nor model
    (plugins/DevicesDetection/functions.php)."""
    if not device_type or device_type == "bot":
        return UNKNOWN
    return "Generic " + device_type_label(device_type)


def os_family(name: object) -> str:
    """device-detector's family of an operating system name: Ubuntu → GNU/Linux."""
    if not name:
        return UNKNOWN
    return str(FAMILY_FROM_OS.get(OS_TO_ABBREV.get(str(name).lower(), ""), str(name)))


@method("DevicesDetection.getOsFamilies")
def os_families(query: Query) -> Report:
    """Visits by operating system family (Windows, iOS, Android, GNU/Linux, Mac, ...)."""
    names = [name for (name,), _ in visit_groups(query, ["v.os_name"]) if name is not None]
    if not names:
        return [{"label": UNKNOWN, **metrics} for _, metrics in visit_groups(query, ["v.os_name"])]
    # Families are counted in SQL (not summed here) so unique visitors stay exact.
    case = "CASE v.os_name " + " ".join("WHEN ? THEN ?" for _ in names) + " ELSE NULL END"
    pairs: list[object] = []
    for name in names:
        pairs.extend([name, os_family(name)])
    return [
        {"label": family or UNKNOWN, **metrics}
        for (family,), metrics in visit_groups(query, [case], expression_params=pairs)
    ]


@method("DevicesDetection.getBrowsers")
def browsers(query: Query) -> Report:
    """Visits by browser (Chrome, Chrome Mobile, Safari, ...), versions together."""
    return [
        {"label": name or UNKNOWN, **metrics, "segment": _segment("browserName", name)}
        for (name,), metrics in visit_groups(query, ["v.browser_name"])
    ]
