"""Take the README's dashboard screenshots from a running `tally serve` (after `make demo`).

Usage (Debian's Chromium, the dev extra's Playwright; an admin made with `tally user add`):
    make demo && .venv/bin/tally user add shots --admin && make serve PORT=8090 &
    .venv/bin/python docs/dashboard_screenshots.py --url http://127.0.0.1:8090 \
        --user shots --password-file PATH
Writes docs/dashboard-{subscriptions,web,web-map,elt}.png, each page as a newcomer first
sees it (no date chosen: the dashboards' own default), and the subscriptions dashboard's
analytics panels one by one (``PANELS``: MRR movements, retention heat map, LTV by cohort,
revenue by channel and campaign) as docs/dashboard-<panel>.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).parent
# the browser tests' Chromium and the flags that keep it off the closed network, one list
# for both (tests/browser.py; the dev extra that brings Playwright brings pytest too)
sys.path.insert(0, str(HERE.parent))
from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

PAGES = [
    ("/subscriptions", "dashboard-subscriptions.png"),
    ("/web", "dashboard-web.png"),
    ("/web/realtime-map", "dashboard-web-map.png"),
    ("/elt", "dashboard-elt.png"),
]
# (page, panel key): the analytics panels (docs/metrics.md), weekly so the demo's few
# months give a triangle and several periods of movements
PANELS = [
    ("/subscriptions?resolution=weekly", "mrr-movements"),
    ("/subscriptions?resolution=weekly", "retention"),
    ("/subscriptions?resolution=monthly", "ltv"),
    ("/subscriptions?resolution=monthly", "attribution"),
    ("/subscriptions?resolution=weekly", "revenue-converted"),
]


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password-file", required=True, type=Path)
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args()
    password = args.password_file.read_text().strip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(180_000)  # a busy machine answers slowly
        page = context.new_page()
        page.goto(f"{args.url}/login")
        page.fill("input[name=username]", args.user)
        page.fill("input[name=password]", password)
        page.click("form.login button[type=submit]")
        page.wait_for_selector("body[data-ready='1']")
        for path, name in PAGES:
            page.goto(args.url + path)
            page.wait_for_selector("body[data-ready='1']")
            if page.locator("script.figure").count():
                page.wait_for_selector(".chart .main-svg")  # plotly has drawn
            if page.locator("#realtime").count():
                page.wait_for_selector("#realtime[data-loaded]")  # the widget loaded itself
            page.screenshot(path=str(HERE / name), full_page=True)
        for path, key in PANELS:
            page.goto(args.url + path)
            page.wait_for_selector("body[data-ready='1']")
            panel = page.locator(f"#panel-{key}")
            if panel.locator("script.figure").count():
                panel.locator(".chart .main-svg").first.wait_for()
            panel.screenshot(path=str(HERE / f"dashboard-{key}.png"))
            print(f"{name}: {path}")
        browser.close()


if __name__ == "__main__":
    main()
