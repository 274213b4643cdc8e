"""SPEC §10 "faults" and "security" rows of the benchmark report: these bars are met by tests, not by a
timing, so this runs those tests (real gunicorn, PostgreSQL, Redis, Chromium-free) and reports each group
as passed / failed with its count and wall time.

    python bench/checks_bench.py [--json OUT]

faults:   kill -9 of a worker mid-upload and mid-opening, PostgreSQL restart during uploads, Redis down,
          blob disk full (tests/bidding/test_crash.py, tests/test_faults.py, tests/test_faults_crash.py)
security: schemathesis against the OpenAPI document as every role, the authorization matrix over every
          route, the Hypothesis lifecycle state machine (tests/test_api_fuzz.py,
          tests/test_authorization_matrix.py, tests/test_lifecycle_properties.py)

The tests run on DATABASE_URL when it is set (a fresh database per run, as in CI), else on SQLite.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

GROUPS = {
    "faults: kill -9 mid-upload / mid-opening, PostgreSQL restart, Redis down, disk full": [
        "tests/bidding/test_crash.py",
        "tests/test_faults.py",
        "tests/test_faults_crash.py",
    ],
    "security: schemathesis (every role), authorization matrix, lifecycle properties": [
        "tests/test_api_fuzz.py",
        "tests/test_authorization_matrix.py",
        "tests/test_lifecycle_properties.py",
    ],
}


def run_group(files: list[str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *files],
            cwd=ROOT,
            check=False,
        )
        took = time.perf_counter() - started
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if report.exists():
            for suite in ET.parse(report).getroot().iter("testsuite"):  # noqa: S314 - pytest wrote it
                for key in counts:
                    counts[key] += int(suite.get(key, 0))
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    ok = proc.returncode == 0 and counts["tests"] > 0 and not counts["failures"] and not counts["errors"]
    return {
        "value": f"{passed}/{counts['tests']} passed",
        "unit": f"({counts['skipped']} skipped, {took:.0f} s)",
        "pass": ok,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    for figure, files in GROUPS.items():
        result = run_group(files)
        rows.append({"figure": figure, "baseline": "", "ratio": None, "bar": "all pass", **result})
        print(f"{figure}: {result['value']} {result['unit']}")
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=2))
    return 0 if all(r["pass"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
