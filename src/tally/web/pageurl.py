"""Site search read from a page URL, by Matomo's rules (plugins/Actions/Actions/
ActionSiteSearch.php, detectSiteSearchFromUrl).

A page view whose URL carries one of the site's keyword parameters (Matomo's defaults:
``q``, ``query``, ``s``, ``search``, ``searchword``, ``k``, ``keyword``, ``keywords``) with a
non-empty value is a site search, not a page view: the parameters are read from the query
and the fragment (the part after ``?`` in a fragment that has one), names compared without
case; the first keyword parameter of the list that has a value wins, likewise the
category; ``search_count`` gives the number of results. The keyword and category parameters
found are removed from the URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit, urlunsplit


@dataclass(frozen=True)
class FoundSearch:
    keyword: str
    category: str | None
    count: int | None
    url: str  # the page URL without the keyword and category parameters


def search_in_url(
    url: str | None, keyword_parameters: Sequence[str], category_parameters: Sequence[str]
) -> FoundSearch | None:
    """The site search ``url`` records, or None when it is not one."""
    if not url or ("?" not in url and "#" not in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    fragment_path, fragment_query = "", parts.fragment
    if "?" in parts.fragment:
        fragment_path, _, fragment_query = parts.fragment.partition("?")
    params: dict[str, str] = {}
    for name, value in parse_qsl(parts.query + "&" + fragment_query, keep_blank_values=True):
        params.setdefault(name.lower(), value)  # PHP keeps the last; rare enough to differ
    keyword_name = next((p for p in keyword_parameters if params.get(p.lower(), "").strip()), None)
    if keyword_name is None:
        return None
    category_name = next(
        (p for p in category_parameters if params.get(p.lower(), "").strip()), None
    )
    count_text = params.get("search_count", "")
    count = int(count_text) if count_text.isdigit() else None
    removed = {keyword_name.lower(), (category_name or "").lower()}
    query = _without(parts.query, removed)
    fragment = parts.fragment
    if fragment:
        kept = _without(fragment_query, removed)
        fragment = f"{fragment_path}?{kept}" if fragment_path and kept else fragment_path or kept
    return FoundSearch(
        keyword=params[keyword_name.lower()].strip(),
        category=params[category_name.lower()].strip() if category_name else None,
        count=count,
        url=urlunsplit(parts._replace(query=query, fragment=fragment)),
    )


def _without(text: str, names: set[str]) -> str:
    return "&".join(
        pair for pair in text.split("&") if pair and pair.split("=", 1)[0].lower() not in names
    )
