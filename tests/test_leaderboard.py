"""Leaderboard table: missing tasks shown as '–', averages only over complete rows."""
from mllbench.leaderboard import MISSING, render, table


def result(method, accs, k=1, created="2026-01-01", version="0.1.0"):
    return {"method": method, "params": {"k": k, "alpha": 0.7}, "plugin_version": version, "created": created,
            "tasks": {t: {"accuracy": a} for t, a in accs.items()}}


def test_rows_latest_wins_missing_is_dash_and_oracle_last():
    results = [result("inb", {"a": 0.5, "b": 0.7}, created="1"),
               result("inb", {"a": 0.6, "b": 0.8}, created="2"),
               result("mll", {"a": 0.9})]
    header, rows = table(results, ["a", "b"], oracle={"a": 1.0, "b": 0.9})
    assert header == ["method", "version", "a", "b", "avg"]
    by = {r[0]: r for r in rows}
    assert by["inb (k=1)"][2:] == ["0.6000", "0.8000", "0.7000"]
    assert by["mll (k=1, α=0.7)"][2:] == ["0.9000", MISSING, MISSING]
    assert rows[-1][0].startswith("oracle") and rows[-1][-1] == "0.9500"


def test_render_formats():
    header, rows = table([result("inb", {"a": 0.5})], ["a"])
    assert render(header, rows, "rich") is None
    assert render(header, rows, "csv").splitlines()[1] == "inb (k=1),0.1.0,0.5000,0.5000"
    assert "| inb (k=1)" in render(header, rows, "markdown")
    assert "\\toprule" in render(header, rows, "latex")
