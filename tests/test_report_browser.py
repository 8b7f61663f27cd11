"""`mllbench report` in a real browser: Debian's headless Chromium through playwright.

Marked ``browser`` (deselected by default; `tox -e py311-browser` runs them).
playwright's wheel brings its driver; the browser is the system's
/usr/bin/chromium (`apt-get install chromium`), never one playwright downloads.
The page must load from file:// with no console error and no request leaving
the site's folder, show the leaderboard's numbers, re-sort on a header click,
and draw its charts.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from report_site import leaderboard

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (its driver only)")
    if not CHROMIUM.exists():
        pytest.skip(f"no {CHROMIUM}: apt-get install chromium")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


def open_report(browser, site: Path):
    """The page, and the console errors, page errors and requests it made while loading."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    problems, requests = [], []
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto((site / "index.html").as_uri())
    page.wait_for_load_state("load")
    return page, problems, requests


def table_rows(page) -> list[list[dict]]:
    """The leaderboard's body rows as the browser has them: text and data-v per cell."""
    return page.eval_on_selector_all("#board tbody tr", """rows => rows.map(r =>
        Array.from(r.cells, c => ({text: c.textContent.trim(), v: c.dataset.v ?? null})))""")


def check_in_browser(browser, site: Path, csv_table) -> None:
    page, problems, requests = open_report(browser, site)
    assert problems == []
    assert requests and all(url.startswith(site.as_uri() + "/") for url in requests), requests
    header, rows = csv_table
    oracle = rows[-1][0] == "oracle (best single model)"
    ranked = rows[:-1] if oracle else rows
    shown = table_rows(page)
    assert [r[0]["text"] for r in shown] == [r[0] for r in ranked]
    n = header.index("avg") - 1  # columns: the tasks and avg
    for cells, numbers in zip(shown, ranked):
        assert [c["v"] for c in cells[2:]] == [("" if x == "–" else x) for x in numbers[2:2 + n]]
    if oracle:
        foot = page.eval_on_selector_all("#board tfoot td[data-v]", "cells => cells.map(c => c.dataset.v)")
        assert foot == rows[-1][2:2 + n]
    # clicking the avg header sorts by it, best first; again, worst first; the oracle stays last
    avg = lambda rows_: [float(r[-1]["v"]) for r in rows_ if r[-1]["v"]]  # noqa: E731
    assert len(set(avg(shown))) > 1  # so that one of the two orders below differs from the first
    page.click("#board thead th:last-child")
    after = table_rows(page)
    assert avg(after) == sorted(avg(shown), reverse=True) and sorted(map(str, after)) == sorted(map(str, shown))
    assert page.get_attribute("#board thead th:last-child", "aria-sort") == "descending"
    page.click("#board thead th:last-child")
    assert avg(table_rows(page)) == sorted(avg(shown))
    page.click("#board thead th:first-child")
    assert [r[0]["text"] for r in table_rows(page)] == sorted(r[0] for r in ranked)
    if oracle:
        last = page.eval_on_selector("#board", "t => t.rows[t.rows.length - 1].cells[0].textContent")
        assert last == rows[-1][0]
    # the charts are drawn: each SVG has a size on screen, bars have width
    boxes = page.eval_on_selector_all("svg.chart, svg.heatmap", """svgs => svgs.map(s => {
        const b = s.getBoundingClientRect(); return [s.getAttribute('class'), b.width, b.height]; })""")
    assert len([b for b in boxes if b[0] == "chart"]) == n and len([b for b in boxes if b[0] == "heatmap"]) == 1
    assert all(w > 100 and h > 40 for _, w, h in boxes)
    widths = page.eval_on_selector_all("rect.bar", "bars => bars.map(b => b.getBBox().width)")
    assert widths and max(widths) > 0
    assert problems == []
    page.close()


def test_table_benchmark_report_in_chromium(browser, cli, lovm_table, tmp_path):
    base = ["-q", "-b", "lovm", "--lovm-dir", str(lovm_table), "--registry", str(tmp_path / "registry")]
    for args in (["-m", "inb"], ["-m", "modelgpt"], ["-m", "modelgpt", "-p", "target=raw"]):
        assert cli(*base, "run", *args)[0] == 0
    assert cli(*base, "report", "--out", str(tmp_path / "site"))[0] == 0
    check_in_browser(browser, tmp_path / "site", leaderboard(cli, base, "csv"))


def test_image_benchmark_report_in_chromium(browser, cli, tiny_json, registry, tmp_path):
    base = ["-q", "-b", tiny_json, "--registry", str(registry)]
    for args in (["-m", "mll"], ["-m", "mll", "--k", "2"], ["-m", "inb"]):
        assert cli(*base, "run", *args)[0] == 0
    site = tmp_path / "site"
    assert cli(*base, "report", "--out", str(site))[0] == 0
    check_in_browser(browser, site, leaderboard(cli, base, "csv"))
    # error bars drawn where the intervals are
    page, problems, _ = open_report(browser, site)
    assert page.eval_on_selector_all("path.err", "paths => paths.filter(p => p.getBBox().width > 0).length") > 0
    assert problems == []
