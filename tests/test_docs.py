"""The README front page and the docs site stay consistent without mkdocs installed, and the
docs cover what users and plugin authors meet.

Why: `.ci/run` and an outside checker run the README's first two ```bash blocks,
GitHub renders README.md and docs/*.md with their relative links, and
`mkdocs build --strict` (tox -e docs, not in every env) rejects pages missing
from nav. Every hook spec, every CLI command and subcommand and every built-in
selector's declared option appears in docs/*.md as code (datasette checks its
hooks the same way), so a new one cannot ship undocumented. These checks run in
every tox env, torch-free ones included.
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
SPAN = re.compile(r"`([^`\n]+)`")
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


# -- what the docs must cover ----------------------------------------------------------------------

def code_of(markdown: str) -> list[str]:
    """The docs' code: every line of a fenced block and every inline code span."""
    blocks = [line for block in FENCE.finditer(markdown) for line in block.group(0).splitlines()]
    return blocks + SPAN.findall(FENCE.sub("", markdown))


DOCS_CODE = [line for page in PAGES for line in code_of(page.read_text(encoding="utf-8"))]


def documented(pattern: str) -> bool:
    """Whether some code line or span of docs/*.md matches ``pattern``."""
    return any(re.search(pattern, line) for line in DOCS_CODE)


def word(text: str) -> str:
    """``text`` as a whole word of a command line: no letter, digit, '_' or '-' on either side."""
    return rf"(?<![\w-]){re.escape(text)}(?![\w-])"


def hook_specs() -> list[str]:
    from mllbench.contract import hookspecs

    return sorted(name for name, value in vars(hookspecs).items() if hasattr(value, "mllbench_spec"))


def cli_commands() -> list[str]:
    """Every command and subcommand of the CLI, as typed after ``mllbench`` (``results export``)."""
    import click

    from mllbench.cli import cli

    def walk(group: click.Group, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
        found = []
        for name, command in group.commands.items():
            if not command.hidden:
                found.append((*prefix, name))
                if isinstance(command, click.Group):
                    found += walk(command, (*prefix, name))
        return found
    return sorted(" ".join(path) for path in walk(cli, ()))


def builtin_selector_options() -> list[tuple[str, str]]:
    """(selector, option) for every option a built-in selector declares."""
    from harness import builtin_entry_points
    from mllbench.contract import as_selector
    from mllbench.host.plugins import build_host

    selectors = build_host(builtin_entry_points()).registries["selector"]
    return sorted((name, option.name) for name, selector in selectors.items()
                  for option in as_selector(selector, name).options)


def test_the_lists_checked_below_are_what_the_code_declares() -> None:
    """The walks find the known hooks, commands and options, so an empty list cannot pass unseen."""
    assert {"register_selectors", "register_model_providers"} <= set(hook_specs())
    assert {"run", "leaderboard", "results export", "experiment alpha"} <= set(cli_commands())
    assert {("mll", "alpha"), ("mll", "nodes_per_class")} <= set(builtin_selector_options())


@pytest.mark.parametrize("hook", hook_specs())
def test_every_hook_spec_is_documented(hook: str) -> None:
    assert documented(word(hook)), f"hook {hook} appears in no docs/*.md code (docs/plugins.md: the hooks)"


@pytest.mark.parametrize("command", cli_commands())
def test_every_cli_command_is_documented(command: str) -> None:
    assert documented(r"\bmllbench\b.*" + word(command)), \
        f"`mllbench {command}` appears in no docs/*.md code; show it where its topic is documented"


@pytest.mark.parametrize("selector, option", builtin_selector_options())
def test_every_builtin_selector_option_is_documented(selector: str, option: str) -> None:
    flag = "--" + option.replace("_", "-")
    assert documented(word(option)) or documented(word(flag)), \
        f"option {option!r} of selector {selector!r} appears in no docs/*.md code (docs/methods.md)"


def test_documented_finds_code_only() -> None:
    """The coverage check itself: prose does not count, code spans and blocks do."""
    text = "run is prose\n`mllbench results export --out x`\n```\nmllbench -b lovm run\n```\n"
    code = code_of(text)
    assert "mllbench results export --out x" in code and "mllbench -b lovm run" in code
    assert not any("prose" in line for line in code)
    assert re.search(r"\bmllbench\b.*" + word("run"), "mllbench -b lovm run")
    assert not re.search(word("run"), "mllbench --dry-run")


def test_architecture_table_shows_the_floors_import_linter_checks() -> None:
    """docs/architecture.md's floors table names every package of pyproject.toml's layers
    contract (the one `tox -e imports` enforces), top floor first."""
    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    listed = re.search(r'^type = "layers"\nlayers = \[(.*?)\]', config, re.M | re.S)
    assert listed, "pyproject.toml has no import-linter layers contract"
    floors = [[p.strip() for p in layer.split("|")] for layer in re.findall(r'"([^"]+)"', listed.group(1))]
    section = (DOCS / "architecture.md").read_text(encoding="utf-8").split("\n## Floors", 1)[1].split("\n## ", 1)[0]
    cells = [line.split("|")[2] for line in section.splitlines() if line.startswith("| ")]
    row_of = {package: i for i, cell in enumerate(cells) for package in re.findall(r"`(mllbench[\w.]*)`", cell)}
    missing = [p for floor in floors for p in floor if p not in row_of]
    assert not missing, f"docs/architecture.md's floors table lacks {missing}"
    rows = [sorted(row_of[p] for p in floor) for floor in floors]
    assert all(upper[-1] < lower[0] for upper, lower in zip(rows, rows[1:])), \
        f"docs/architecture.md lists the floors in another order than pyproject.toml: {floors}"
