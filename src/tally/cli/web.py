"""Web analytics commands: ``tally site``, ``tally goal``, ``tally web sessionize`` and
``tally web load``."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from tally.cli._tables import print_json, wide_table
from tally.config import load_settings
from tally.errors import TallyError
from tally.pipeline.ledger import abandon_dead_steps
from tally.warehouse import Warehouse, from_settings

console = Console()
errors = Console(stderr=True)

site_app = typer.Typer(help="Tracked web sites and apps.", no_args_is_help=True)
goal_app = typer.Typer(help="Goals of a site (conversions).", no_args_is_help=True)
web_app = typer.Typer(help="Web analytics processing.", no_args_is_help=True)

SiteOption = Annotated[int, typer.Option("--site", help="Site id (see: tally site list).")]


def _warehouse() -> Warehouse:
    try:
        warehouse = from_settings(load_settings())
        abandon_dead_steps(warehouse)  # web.sessionize writes ledger steps too
        return warehouse
    except TallyError as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(2) from None


def _fail(error: TallyError) -> typer.Exit:
    errors.print(f"[red]error:[/red] {escape(str(error))}")
    return typer.Exit(1)


# -- sites ---------------------------------------------------------------------------------

# Matomo's per-site URL settings (tally.web.sites.Site)
ExcludeParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude-param",
        help="A query parameter to drop from tracked page URLs (besides Matomo's list); "
        "repeat for several.",
    ),
]
SiteSearchOption = Annotated[
    bool,
    typer.Option(
        "--site-search/--no-site-search",
        help="Read site searches from page URLs (?q=...), as Matomo does by default.",
    ),
]
SearchParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--search-param",
        help="A URL parameter holding a site search keyword (default: Matomo's q, query, s, "
        "search, searchword, k, keyword, keywords); repeat for several.",
    ),
]
ReferrerChangeOption = Annotated[
    bool | None,
    typer.Option(
        "--new-visit-on-referrer-change/--same-visit-on-referrer-change",
        help="A hit from another website than the visit's referrer opens a new visit "
        "(Matomo's create_new_visit_when_website_referrer_changes; off by default).",
    ),
]
KeepFragmentOption = Annotated[
    bool | None,
    typer.Option(
        "--keep-url-fragment/--drop-url-fragment",
        help="Keep the part after '#' of page URLs, so /app#/cart is a page of its own "
        "(Matomo's keep_url_fragment; dropped by default).",
    ),
]
SearchCategoryParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--search-category-param",
        help="A URL parameter holding a site search category; repeat for several.",
    ),
]


@site_app.command("add")
def site_add(
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    url: Annotated[list[str], typer.Option("--url", help="A URL of the site; repeat for several.")],
    timezone: Annotated[
        str, typer.Option("--timezone", help="IANA zone of the site's day.")
    ] = "UTC",
    exclude_param: ExcludeParamOption = None,
    site_search: SiteSearchOption = True,
    search_param: SearchParamOption = None,
    search_category_param: SearchCategoryParamOption = None,
    referrer_change: ReferrerChangeOption = None,
    keep_fragment: KeepFragmentOption = None,
) -> None:
    """Add a site (or app) to track and print its id, the idsite its tracker sends.

    Example: tally site add --name "Watch HK" --url https://watch.example.com
    --url https://m.watch.example.com --timezone Asia/Hong_Kong --exclude-param sessiontoken
    """
    from tally.web.sites import add_site

    try:
        site = add_site(
            _warehouse(),
            name,
            url,
            timezone,
            excluded_parameters=exclude_param,
            sitesearch=site_search,
            search_keyword_parameters=search_param,
            search_category_parameters=search_category_param,
            new_visit_on_referrer_change=bool(referrer_change),
            keep_url_fragment=bool(keep_fragment),
        )
    except TallyError as error:
        raise _fail(error) from None
    console.print(f"site {site.idsite} added: {site.name} ({', '.join(site.urls)})")


@site_app.command("list")
def site_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the tracked sites.

    Example: tally site list --json
    """
    from tally.web.sites import list_sites

    if as_json:
        print_json([dataclasses.asdict(site) for site in list_sites(_warehouse())])
        return
    table = wide_table("idsite", "name", "urls", "timezone")
    for site in list_sites(_warehouse()):
        table.add_row(str(site.idsite), site.name, "\n".join(site.urls), site.timezone)
    console.print(table)


@site_app.command("edit")
def site_edit(
    site: SiteOption,
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    url: Annotated[
        list[str] | None,
        typer.Option("--url", help="Replace the URLs (main first); repeat for several."),
    ] = None,
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="New IANA zone (visits are rebuilt).")
    ] = None,
    exclude_param: ExcludeParamOption = None,
    site_search: Annotated[
        bool | None,
        typer.Option("--site-search/--no-site-search", help="Read site searches from page URLs."),
    ] = None,
    search_param: SearchParamOption = None,
    search_category_param: SearchCategoryParamOption = None,
    referrer_change: ReferrerChangeOption = None,
    keep_fragment: KeepFragmentOption = None,
) -> None:
    """Change a site's name, URLs, time zone or URL settings (a list option given replaces
    the old list; pass it once with "" to clear it). URL settings apply to hits loaded from
    then on.

    Example: tally site edit --site 1 --timezone Asia/Singapore --search-param term
    """
    from tally.web.sites import edit_site

    try:
        changed = edit_site(
            _warehouse(),
            site,
            name=name,
            urls=url,
            timezone=timezone,
            excluded_parameters=exclude_param,
            sitesearch=site_search,
            search_keyword_parameters=search_param,
            search_category_parameters=search_category_param,
            new_visit_on_referrer_change=referrer_change,
            keep_url_fragment=keep_fragment,
        )
    except TallyError as error:
        raise _fail(error) from None
    console.print(f"site {changed.idsite}: {changed.name}, {changed.timezone}")


# -- goals ---------------------------------------------------------------------------------


@goal_app.command("add")
def goal_add(
    site: SiteOption,
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    match: Annotated[
        str,
        typer.Option(
            "--match",
            help="What to compare: url, title, event_category, event_action, event_name, or "
            "manual (converted only by trackGoal).",
        ),
    ],
    pattern: Annotated[
        str | None, typer.Option("--pattern", help="Text or regular expression.")
    ] = None,
    pattern_type: Annotated[
        str, typer.Option("--pattern-type", help="contains, exact or regex.")
    ] = "contains",
    case_sensitive: Annotated[bool, typer.Option("--case-sensitive")] = False,
    allow_multiple: Annotated[
        bool, typer.Option("--allow-multiple", help="Convert more than once per visit.")
    ] = False,
    revenue: Annotated[
        float | None, typer.Option("--revenue", help="Default revenue of a conversion.")
    ] = None,
) -> None:
    """Add a goal to a site and print its id (the idgoal of trackGoal).

    Example: tally goal add --site 1 --name "Subscribed" --match url --pattern /welcome
    --revenue 8.5
    """
    from tally.web.sites import add_goal

    kind = None if match == "manual" else pattern_type
    try:
        goal = add_goal(
            _warehouse(),
            site,
            name,
            match,
            kind,
            pattern,
            case_sensitive=case_sensitive,
            allow_multiple=allow_multiple,
            revenue=revenue,
        )
    except TallyError as error:
        raise _fail(error) from None
    console.print(f"goal {goal.idgoal} added to site {site}: {goal.name}")


@goal_app.command("list")
def goal_list(
    site: Annotated[int | None, typer.Option("--site", help="Only this site.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List goals.

    Example: tally goal list --site 1 --json
    """
    from tally.web.sites import list_goals

    if as_json:
        print_json([dataclasses.asdict(goal) for goal in list_goals(_warehouse(), site)])
        return
    table = wide_table("idsite", "idgoal", "name", "match", "pattern", "revenue")
    for goal in list_goals(_warehouse(), site):
        rule = f"{goal.pattern_type} {goal.pattern!r}" if goal.pattern else "manual"
        table.add_row(
            str(goal.idsite),
            str(goal.idgoal),
            goal.name,
            goal.match_attribute,
            rule,
            "" if goal.revenue is None else f"{goal.revenue:g}",
        )
    console.print(table)


@goal_app.command("edit")
def goal_edit(
    site: SiteOption,
    goal: Annotated[int, typer.Option("--goal", help="Goal id (see: tally goal list).")],
    name: Annotated[str | None, typer.Option("--name")] = None,
    pattern: Annotated[str | None, typer.Option("--pattern")] = None,
    pattern_type: Annotated[str | None, typer.Option("--pattern-type")] = None,
    revenue: Annotated[float | None, typer.Option("--revenue")] = None,
) -> None:
    """Change a goal; the site's visits are rebuilt at the next sessionize run.

    Example: tally goal edit --site 1 --goal 2 --pattern /thank-you --pattern-type contains
    """
    from tally.web.sites import edit_goal

    changes = {
        key: value
        for key, value in {
            "name": name,
            "pattern": pattern,
            "pattern_type": pattern_type,
            "revenue": revenue,
        }.items()
        if value is not None
    }
    try:
        changed = edit_goal(_warehouse(), site, goal, **changes)
    except TallyError as error:
        raise _fail(error) from None
    console.print(f"goal {changed.idgoal} of site {site}: {changed.name}")


@goal_app.command("delete")
def goal_delete(
    site: SiteOption,
    goal: Annotated[int, typer.Option("--goal", help="Goal id.")],
) -> None:
    """Delete a goal (and, at the next sessionize run, its conversions).

    Example: tally goal delete --site 1 --goal 2
    """
    from tally.web.sites import delete_goal

    try:
        delete_goal(_warehouse(), site, goal)
    except TallyError as error:
        raise _fail(error) from None
    console.print(f"goal {goal} of site {site} deleted")


# -- processing ----------------------------------------------------------------------------


@web_app.command("sessionize")
def sessionize_command(
    full: Annotated[
        bool, typer.Option("--full", help="Rebuild every day, not only days with new hits.")
    ] = False,
    site: Annotated[int | None, typer.Option("--site", help="Only this site.")] = None,
    since: Annotated[
        dt.datetime | None,
        typer.Option("--since", formats=["%Y-%m-%d"], help="Only days from this one."),
    ] = None,
) -> None:
    """Build web.visits, web.actions and web.conversions from web.hits (new days only).

    The run is one step of the ledger (job web.sessionize; rows in: hits placed, rows out:
    visits).

    Example: tally web sessionize
    """
    from tally.pipeline.ledger import Ledger, new_run_id
    from tally.web.loader import sessionize_alone

    warehouse = _warehouse()
    try:
        with (
            console.status("placing hits in visits ..."),
            Ledger(warehouse).step(new_run_id(), "web.sessionize") as step,
        ):
            settings = load_settings()
            result = sessionize_alone(
                warehouse,
                settings,
                full=full,
                idsite=site,
                since=since.date() if since else None,
            )
            step.rows_in, step.rows_out = result.actions, result.visits
    except TallyError as error:
        raise _fail(error) from None
    console.print(
        f"{len(result.days)} site-days rebuilt: {result.visits} visits, "
        f"{result.actions} hits placed"
    )


@web_app.command("load")
def load_command(
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep loading as hits arrive, until Ctrl-C.")
    ] = False,
) -> None:
    """Load the hit log into web.hits, then rebuild the visits of the days it touched.

    With web.hit_log_url = "nats://..." this is a loader on the JetStream hit stream: any
    number may run at once, on any machines. A local hit log has one loader at a time: run
    this only where no tally serve loads it.

    Example: tally web load --follow
    """
    import threading

    from tally.web.streamload import load_until

    warehouse = _warehouse()
    stop = threading.Event()

    def report(result: dict[str, int]) -> None:
        console.print(", ".join(f"{key} {value:,}" for key, value in result.items()))

    try:
        load_until(warehouse, load_settings(), stop, report, follow=follow)
    except KeyboardInterrupt:
        stop.set()
    except TallyError as error:
        raise _fail(error) from None


def register(app: typer.Typer) -> None:
    app.add_typer(site_app, name="site")
    app.add_typer(goal_app, name="goal")
    app.add_typer(web_app, name="web")
