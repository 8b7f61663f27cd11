"""The README front page and the docs site stay consistent without mkdocs installed.

Why: `.ci/run` and an outside checker run the README's first two ```bash blocks,
GitHub renders README.md and docs/*.md with their relative links, and
`mkdocs build --strict` (tox -e docs, not in every env) rejects pages missing
from nav. These checks run in every tox env, torch-free ones included.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def relative_links(markdown: str) -> list[str]:
    """Targets of inline links and images outside code blocks and spans, minus URLs and same-page anchors."""
    text = re.sub(r"`[^`\n]*`", "", FENCE.sub("", markdown))
    targets = [m.group(1) for m in LINK.finditer(text)]
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def test_readme_is_a_short_front_page() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 150


def test_readme_first_two_bash_blocks_are_the_setup_commands() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2
    assert "mllbench --offline run --method mll --tasks all" in blocks[0]
    assert "tox -e" in blocks[1]


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_files_that_exist(page: Path) -> None:
    missing = [t for t in relative_links(page.read_text(encoding="utf-8"))
               if not (page.parent / t.split("#", 1)[0]).exists()]
    assert not missing, f"{page.relative_to(ROOT)}: links to missing files {missing}"


def test_every_docs_page_is_in_the_nav() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = config.split("\nnav:\n", 1)[1]  # nav is the last key
    entries = set(re.findall(r"^\s*-\s*(?:[^\n]*?:\s+)?(\S+\.md)\s*$", nav, re.M))
    pages = {p.relative_to(DOCS).as_posix() for p in PAGES}
    assert pages <= entries, f"docs pages missing from mkdocs.yml's nav: {sorted(pages - entries)}"
    assert entries <= pages, f"nav entries without a file: {sorted(entries - pages)}"


def test_link_check_sees_links_and_skips_code() -> None:
    """The link extraction itself: a broken link is caught, code and URLs are not links."""
    text = ("[a](x.md) ![b](img/y.png#z) [c](https://e.org) [d](#top)\n"
            "`[e](not-a-link.md)`\n```\n[f](nor-this.md)\n```\n")
    assert relative_links(text) == ["x.md", "img/y.png#z"]
