"""Helpers of the `mllbench report` tests (test_report.py, test_report_browser.py): the page read
back with the standard library's HTML parser, and the leaderboard it must equal, as
`mllbench leaderboard` prints it (csv for the numbers, markdown for the cells as shown)."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable

Cli = Callable[..., tuple[int, str]]


@dataclass
class Cell:
    tag: str
    attrs: dict[str, str]
    text: str = ""


@dataclass
class Table:
    head: list[Cell] = field(default_factory=list)
    body: list[list[Cell]] = field(default_factory=list)
    foot: list[list[Cell]] = field(default_factory=list)


class Page(HTMLParser):
    """Tables by id, every element's tag and attributes in order, and the text of <title>s."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, Table] = {}
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.titles: list[str] = []
        self._table: Table | None = None
        self._part, self._row, self._cell, self._title = "", None, None, None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        self.elements.append((tag, attrs))
        if tag == "table":
            self._table = self.tables.setdefault(attrs.get("id", f"table{len(self.tables)}"), Table())
        elif tag in ("thead", "tbody", "tfoot"):
            self._part = tag
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("th", "td") and self._row is not None:
            self._cell = Cell(tag, attrs)
        elif tag == "title":
            self._title = ""

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._cell is not None:
            self._cell.text = self._cell.text.strip()
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._part == "thead":
                self._table.head = self._row
            else:
                (self._table.foot if self._part == "tfoot" else self._table.body).append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "title" and self._title is not None:
            self.titles.append(self._title)
            self._title = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.text += data
        if self._title is not None:
            self._title += data

    def count(self, tag: str, cls: str | None = None) -> int:
        return sum(t == tag and (cls is None or cls in a.get("class", "").split()) for t, a in self.elements)


def read_page(site: Path) -> tuple[str, Page]:
    text = (site / "index.html").read_text(encoding="utf-8")
    return text, Page(text)


def leaderboard(cli: Cli, base: list[str], fmt: str, *options: str) -> tuple[list[str], list[list[str]]]:
    """`mllbench leaderboard`'s first table: header and rows (csv, or markdown cells as shown)."""
    code, out = cli(*base, "leaderboard", "--format", fmt, *options)
    assert code == 0, out
    if fmt == "csv":
        header, *rows = csv.reader(io.StringIO(out.split("\n\n")[0]))
        return header, [r for r in rows if r]
    lines = [line for line in out.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return cells[0], cells[2:]


def per_model(cli: Cli, base: list[str]) -> dict[str, list[str]]:
    """`mllbench leaderboard --per-model --format csv`'s ground-truth table: model -> cells."""
    code, out = cli(*base, "leaderboard", "--per-model", "--format", "csv")
    assert code == 0, out
    section = out[out.index("\nmodel,") + 1:]
    _, *rows = csv.reader(io.StringIO(section))
    return {r[0]: r[1:] for r in rows if r}


def check_leaderboard(page: Page, csv_table: tuple[list[str], list[list[str]]],
                      shown: tuple[list[str], list[list[str]]]) -> None:
    """The page's table is the leaderboard: its cells as `leaderboard` shows them, and in
    data-v/data-lo/data-hi the csv's values and bounds; the oracle row last, in the footer."""
    header, rows = csv_table
    table = page.tables["board"]
    assert [c.text for c in table.head] == shown[0]
    page_rows = table.body + table.foot
    assert [r[0].text for r in page_rows] == [r[0] for r in rows] == [r[0] for r in shown[1]]
    assert len(table.foot) == (rows[-1][0] == "oracle (best single model)")
    columns = header[2:header.index("resamples")]
    n = len(shown[0]) - 2
    for page_row, numbers, cells in zip(page_rows, rows, shown[1]):
        assert [" ".join(c.text.split()) for c in page_row] == cells  # ± on its own line in the page
        by = dict(zip(header, numbers))
        for cell, column in zip(page_row[2:], columns[:n]):
            assert cell.attrs["data-v"] == ("" if by[column] == "–" else by[column])
            assert (cell.attrs["data-lo"], cell.attrs["data-hi"]) == (by[f"{column}_lo"], by[f"{column}_hi"])


def check_self_contained(site: Path, text: str, page: Page) -> None:
    """No http(s) address anywhere; every src/href a file of the site or a #fragment of the page
    (ids unique)."""
    assert "http://" not in text and "https://" not in text and "url(" not in text
    ids = [attrs["id"] for _, attrs in page.elements if "id" in attrs]
    assert len(ids) == len(set(ids))
    for tag, attrs in page.elements:
        for key in ("src", "href"):
            if key in attrs:
                ref = attrs[key]
                assert ref[1:] in ids if ref.startswith("#") else (site / ref).is_file(), (tag, ref)
    for asset in site.glob("*.css"):
        assert "http" not in asset.read_text() and "@import" not in asset.read_text()
