#!/usr/bin/env python3
"""Open a report.html in headless Chromium: it must render its images with no console errors.

Usage: scripts/check-report.py RUN_DIR   (writes RUN_DIR/report.png; exits non-zero on a problem)
Needs Debian's chromium (apt-get install chromium). No network is used: the report is self-contained.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--hide-scrollbars",
]


def check(run_dir: Path) -> list[str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return ["chromium is not installed (apt-get install chromium)"]
    report = (run_dir / "report.html").resolve()
    problems = []
    with tempfile.TemporaryDirectory() as profile:
        common = [browser, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0"]
        dom = subprocess.run(
            [*common, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120
        )
        shot = subprocess.run(
            [*common, f"--screenshot={run_dir / 'report.png'}", "--window-size=1100,2600", report.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
    images = re.findall(r'<img[^>]+src="data:image/png;base64,', dom.stdout)
    if "<h1>edgekit report" not in dom.stdout:
        problems.append("the page did not render its title")
    if not images:
        problems.append("no embedded image rendered")
    console = [
        ln for ln in (dom.stderr + shot.stderr).splitlines() if "CONSOLE" in ln and "ERROR" in ln.upper()
    ]
    problems += [f"console error: {ln}" for ln in console]
    if not (run_dir / "report.png").is_file():
        problems.append("no screenshot was written")
    return problems


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/digits")
    found = check(folder)
    for line in found:
        print(f"report check: {line}", file=sys.stderr)
    print(f"report check: {'FAILED' if found else 'ok'} ({folder / 'report.png'})")
    sys.exit(1 if found else 0)
