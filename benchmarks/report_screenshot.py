"""Write docs/img/report.png: `mllbench report` as headless Chromium shows it (not a test).

    python benchmarks/report_screenshot.py --registry DIR [--experiments DIR] [--out docs/img/report.png]

Run it once on a real registry (after the README's commands: `mllbench run`
with a few methods, and any `mllbench experiment ... --out DIR`). The browser
is Debian's /usr/bin/chromium (`apt-get install chromium`) driven by
playwright (`pip install playwright`, which brings only its driver). The
picture is the top of the page (header, leaderboard, the first charts),
reduced to 256 colours so that it stays small in the repository.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

LIMIT = 300_000  # bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", "-b", default="embedded")
    parser.add_argument("--registry", default=None, help="Default: the benchmark's default registry.")
    parser.add_argument("--experiments", default=None, help="`mllbench experiment` outputs to include.")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "img" / "report.png")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1100)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        command = [sys.executable, "-c", "from mllbench.cli.main import main; main()", "-q", "-b", args.benchmark,
                   *(["--registry", args.registry] if args.registry else []), "report", "--out", str(site),
                   *(["--experiments", args.experiments] if args.experiments else [])]
        subprocess.run(command, check=True)
        raw = Path(tmp) / "raw.png"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, headless=True)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto((site / "index.html").as_uri())
            page.screenshot(path=str(raw))
            browser.close()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        Image.open(raw).convert("RGB").quantize(256).save(args.out, optimize=True)
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({args.width}x{args.height}, {size / 1000:.0f} kB)")
    if size > LIMIT:
        sys.exit(f"{args.out} is over {LIMIT // 1000} kB: use a smaller --height")


if __name__ == "__main__":
    main()
