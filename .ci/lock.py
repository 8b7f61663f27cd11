"""Refresh constraints.txt: the versions mllbench's tests pass with, for every Python of tox's matrix.

    python3 .ci/lock.py            # then run `tox` and commit constraints.txt if it is green

Each Python gets a fresh venv with the newest releases (unpinned): 3.11 with
every extra (torch, open_clip, ray, ...), the test tools and the docs tools
(mkdocs, mkdocs-material), 3.10/3.12/3.13
with the torch-free core and pytest. Their `pip freeze` lists are merged into
one pip constraints file; a package whose newest release differs between
Pythons (numpy 2.3+ has no 3.10 wheels, say) gets one line per version with an
environment marker. torch and torchvision stay at the CPU pair named below:
an unpinned torch is a CUDA build of several GB.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TORCH = ["torch==2.13.0", "torchvision==0.28.0"]
DOCS = ["mkdocs", "mkdocs-material"]  # tox -e docs (Python 3.11)
BROWSER = ["playwright"]  # tox -e py311-browser (its driver; the browser is Debian's chromium)
IMPORTS = ["import-linter"]  # tox -e imports (the floors' contracts)
FULL = ["-e", f"{ROOT}[torch,gpt,plots,ray,data,test]", "scipy", *DOCS, *BROWSER, *IMPORTS, *TORCH]
CORE = ["-e", f"{ROOT}[gpt,test]", "scipy"]
PYTHONS = {"3.10": CORE, "3.12": CORE, "3.13": CORE, "3.11": FULL}
SKIP = {"mllbench", "pip", "setuptools", "wheel"}


def python(version: str) -> str:
    """The interpreter of a Python version: pyenv's (its shims fail for versions not selected),
    else pythonX.Y on PATH."""
    pyenv = sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    found = str(pyenv[-1]) if pyenv else shutil.which(f"python{version}")
    if not found:
        raise SystemExit(f"python{version} not found (pyenv install {version})")
    return found


def freeze(version: str, packages: list[str], work: Path) -> dict[str, str]:
    venv = work / version
    subprocess.run([python(version), "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    subprocess.run([*pip, "install", "-q", *packages], check=True)
    out = subprocess.run([*pip, "freeze", "--exclude-editable"], check=True, capture_output=True, text=True).stdout
    pins = {}
    for line in out.splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^+\s]+)", line)  # local labels (+cpu) dropped
        if match and match.group(1).lower() not in SKIP:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def merge(frozen: dict[str, dict[str, str]]) -> list[str]:
    by_package: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for version, pins in frozen.items():
        for name, pin in pins.items():
            by_package[name][pin].append(version)
    lines = []
    for name in sorted(by_package):
        versions = by_package[name]
        if len(versions) == 1:
            lines.append(f"{name}=={next(iter(versions))}")
            continue
        for pin, pythons in sorted(versions.items()):
            marker = " or ".join(f'python_version == "{p}"' for p in sorted(pythons))
            lines.append(f"{name}=={pin}; {marker}")
    return lines


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        frozen = {}
        for version, packages in PYTHONS.items():
            print(f"resolving the newest releases for Python {version} ...", flush=True)
            frozen[version] = freeze(version, packages, Path(tmp))
    header = ["# Versions the tests passed with (pip constraints). Made by `python3 .ci/lock.py`;",
              "# used by the README's commands, tox and .ci/run. Python 3.11: every extra; 3.10/3.12/3.13: the core."]
    (ROOT / "constraints.txt").write_text("\n".join(header + merge(frozen)) + "\n")
    print(f"wrote {ROOT / 'constraints.txt'}")


if __name__ == "__main__":
    sys.exit(main())
