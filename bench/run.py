"""Run every benchmark in bench/ and write one report: bench/results/latest.md and latest.json.

Each ``bench/*_bench.py`` is run as ``python bench/X_bench.py --json OUT`` and writes a list of rows
``{"figure", "value", "unit", "baseline", "ratio", "bar", "pass"}``; every baseline is measured in the same
run as its figure (the machines are shared and noisy, so only ratios side by side mean anything).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    only = set(sys.argv[1:])  # bench names: run only these and update their rows in the report
    rows: list[dict[str, object]] = []
    failures = 0
    for script in sorted(HERE.glob("*_bench.py")):
        name = script.stem.removesuffix("_bench")
        if only and name not in only:
            continue
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
            out = Path(tmp.name)
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script), "--json", str(out)], check=False)
        took = time.perf_counter() - started
        if proc.returncode != 0 or not out.exists() or not out.read_text().strip():
            failures += 1
            rows.append({"bench": name, "figure": "run", "value": f"exit {proc.returncode}", "pass": False})
            continue
        for row in json.loads(out.read_text()):
            row["bench"] = name
            rows.append(row)
        out.unlink(missing_ok=True)
        print(f"   ({took:.1f} s)")
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    previous = results / "latest.json"
    if only and previous.exists():  # a partial run replaces its benches' rows and keeps the others
        kept = [r for r in json.loads(previous.read_text()) if r.get("bench") not in only]
        rows = sorted(kept + rows, key=lambda r: str(r.get("bench")))
    (results / "latest.json").write_text(json.dumps(rows, ensure_ascii=False, indent=2))
    lines = [
        "| bench | figure | value | baseline | ratio | bar | pass |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        value = f"{r.get('value')} {r.get('unit', '')}".strip()
        ratio = r.get("ratio")
        ratio_txt = f"{ratio:.2f}" if isinstance(ratio, int | float) else (ratio or "")
        verdict = {True: "pass", False: "FAIL", None: ""}[r.get("pass")]  # type: ignore[index]
        lines.append(
            f"| {r['bench']} | {r['figure']} | {value} | {r.get('baseline', '')} | {ratio_txt} | "
            f"{r.get('bar', '')} | {verdict} |"
        )
    report = "\n".join(lines) + "\n"
    (results / "latest.md").write_text(report)
    print(report)
    return 1 if failures or any(r.get("pass") is False for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
