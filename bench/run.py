"""Run every benchmark in bench/ and write one report: bench/results/latest.md, latest.json and one PNG per
scale curve (issue 21: "performance against the physical limits, and how cost grows").

Each ``bench/*_bench.py`` is run as ``python bench/X_bench.py --json OUT [size arguments]`` and writes a list
of rows ``{"figure", "value", "unit", "baseline", "ratio", "bar", "pass"}``; every baseline is measured in the
same run as its figure (the machines are shared and noisy, so only ratios side by side mean anything).

A bench with a curve runs once per size (``PLANS``); the rows of one figure over the sizes are the curve:
printed as a table (size → measured, baseline, ratio, pass) and drawn with matplotlib. The draw's smaller
sizes run first, then the smallest size of every other bench, then the larger sizes (``rank``), so a spent
time budget costs the largest sizes, never a whole bench. A size that cannot run (the budget, its estimate
from the previous size, a crash) is a failed row with its reason, never a missing row.

    BENCH_SCALE=full|quick  BENCH_BUDGET=seconds  python bench/run.py [bench …]

``full`` (the default of ``make bench``) runs the issue's sizes; ``quick`` small ones, for development.
Naming benches reruns only those and keeps the other rows of the previous report.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


@dataclass(frozen=True)
class Size:
    """One run of a bench: its arguments and where it sits on the curve (``x`` in ``unit``)."""

    args: tuple[str, ...] = ()
    x: float | None = None
    label: str = ""
    seconds: float | None = None  # expected on 2 cores, where the linear estimate misleads (fixed set-up)


@dataclass(frozen=True)
class Curve:
    """The rows of one bench whose figure matches ``figure`` (a regular expression), over its sizes."""

    name: str  # file stem of the PNG
    bench: str
    figure: str
    title: str
    x_label: str
    bar: str  # the bar, as text
    bar_ratio: float | None = None  # drawn on the ratio panel
    higher_is_better: bool = False
    growth_bar: bool = False  # cost may grow at most linearly: value(largest) / value(smallest) ≤ size ratio


def _sizes(arg: str, values: list[int], unit: str, *extra: str) -> list[Size]:
    return [Size((arg, str(v), *extra), v, f"{v:,} {unit}") for v in values]


PLANS: dict[str, dict[str, list[Size]]] = {
    "full": {
        "draw": [
            Size(("--pool", "10000", "--runs", "30"), 10_000, "10,000 experts"),
            Size(("--pool", "100000", "--runs", "30"), 100_000, "100,000 experts"),
            Size(("--pool", "1000000", "--runs", "20"), 1_000_000, "1,000,000 experts"),
        ],
        "upload": [
            Size(("--mib", "10", "--runs", "3"), 10, "10 MiB"),
            Size(("--mib", "1024", "--runs", "2"), 1024, "1 GiB", seconds=120),
            Size(("--mib", "4096", "--runs", "1"), 4096, "4 GiB", seconds=240),
        ],
        "audit": [
            Size(("--verify", "1000000"), 1_000_000, "1,000,000 leaves"),
            Size(("--verify", "10000000", "--leaves", "0"), 10_000_000, "10,000,000 leaves"),
        ],
        "portal": _sizes("--sections", [10_000, 100_000], "sections"),
        "sse": _sizes("--subscribers", [500, 5_000], "subscribers"),
        "opening": [
            Size(("--envelopes", "200", "--mib", "2"), 2, "200 × 2 MiB"),
            # two runs, in both orders: one run of 10 GiB each way leans on which side found the cache warm
            Size(("--envelopes", "200", "--mib", "50", "--runs", "2"), 50, "200 × 50 MiB", seconds=600),
        ],
        "surge": [Size((), 200, "200 bidders × 20 MiB")],
        "auction": [  # the load, and a quarter of it: where the bid latency stands below saturation
            Size(
                ("--rate", "50", "--watchers", "1000", "--seconds", "30"),
                1_000,
                "1,000 watchers",
                seconds=240,
            ),
            Size(("--watchers", "5000", "--seconds", "30"), 5_000, "5,000 watchers", seconds=420),
        ],
        "abuse": [Size((), 1000, "1,000 subscribers")],
        "checks": [Size()],
    },
    "quick": {
        "draw": [
            Size(("--pool", "2000", "--runs", "8"), 2_000, "2,000 experts"),
            Size(("--pool", "10000", "--runs", "8"), 10_000, "10,000 experts"),
        ],
        "upload": [
            Size(("--mib", "10", "--runs", "1"), 10, "10 MiB"),
            Size(("--mib", "64", "--runs", "1"), 64, "64 MiB"),
        ],
        "audit": [
            Size(("--verify", "20000", "--leaves", "2000"), 20_000, "20,000 leaves"),
            Size(("--verify", "100000", "--leaves", "0"), 100_000, "100,000 leaves"),
        ],
        "portal": [Size(("--sections", "500", "--duration", "1", "--rounds", "1"), 500, "500 sections")],
        "sse": _sizes("--subscribers", [50, 200], "subscribers", "--events", "2"),
        "opening": [Size(("--envelopes", "10", "--mib", "1", "--runs", "1"), 1, "10 × 1 MiB")],
        "surge": [Size(("--bidders", "10", "--mib", "1", "--window", "5"), 10, "10 bidders × 1 MiB")],
        "auction": [
            Size(
                ("--bidders", "200", "--watchers", "200", "--seconds", "5", "--events", "3"),
                200,
                "200 watchers",
            )
        ],
        "abuse": [
            Size(("--subscribers", "40", "--slow", "4", "--bidders", "3", "--mib", "1"), 40, "40 subscribers")
        ],
        "checks": [],  # runs whole test suites: not a quick thing
    },
}
ORDER = ["draw", "upload", "audit", "portal", "opening", "sse", "surge", "auction", "abuse", "checks"]
BUDGETS = {"full": 30 * 60, "quick": 10 * 60}

CURVES = [
    Curve(
        "draw-p95",
        "draw",
        r"^draw latency p95",
        "Expert draw p95 vs the bare indexed SELECT of the eligible set (PostgreSQL)",
        "experts in the pool",
        "p95 ≤ 1.5 × the bare SELECT",
        bar_ratio=1.5,
    ),
    Curve(
        "upload-throughput",
        "upload",
        r"throughput vs bare WSGI",
        "Upload throughput vs a bare WSGI write-to-disk endpoint",
        "envelope size (MiB)",
        "≥ 0.90 × bare WSGI",
        bar_ratio=0.9,
        higher_is_better=True,
    ),
    Curve(
        "upload-disk",
        "upload",
        r"throughput vs the disk",
        "Upload throughput vs the disk's fsync'd write rate (dd conv=fsync)",
        "envelope size (MiB)",
        "≥ 0.80 × dd conv=fsync",
        bar_ratio=0.8,
        higher_is_better=True,
    ),
    Curve(
        "upload-rss",
        "upload",
        r"RSS growth",
        "Worker RSS growth while streaming one envelope",
        "envelope size (MiB)",
        "≤ 16 MiB at every size",
    ),
    Curve(
        "audit-verify",
        "audit",
        r"^verify_log, ",
        "Whole-log verification time",
        "leaves",
        "10,000,000 in ≤ 10 × the 1,000,000 time",
        growth_bar=True,
    ),
    Curve(
        "audit-memory",
        "audit",
        r"^verify_log memory growth",
        "Memory of the verifying process over its own start",
        "leaves",
        "flat (≤ 64 MiB at every size)",
    ),
    Curve(
        "surge-goodput",
        "surge",
        r"goodput vs the disk",
        "Deadline surge goodput vs the disk's fsync'd write rate",
        "bidders (× 20 MiB)",
        "≥ 0.80 × dd conv=fsync; 0 receipts without file or leaf, 0 files without receipt",
        bar_ratio=0.8,
        higher_is_better=True,
    ),
    Curve(
        "portal-list",
        "portal",
        r"^announcements list page",
        "Portal announcements list vs bare Flask hello",
        "published sections",
        "≥ 0.80 × hello",
        bar_ratio=0.8,
        higher_is_better=True,
    ),
    Curve(
        "portal-detail",
        "portal",
        r"^announcement detail page",
        "Portal announcement detail vs bare Flask hello",
        "published sections",
        "≥ 0.80 × hello",
        bar_ratio=0.8,
        higher_is_better=True,
    ),
    Curve(
        "portal-search",
        "portal",
        r"^keyword search",
        "Portal keyword search vs the plain list (closed loop: rate ratio = inverse latency ratio)",
        "published sections",
        "p95 < 2 × the list (rate ≥ 0.5 × the list's)",
        bar_ratio=0.5,
        higher_is_better=True,
    ),
    Curve(
        "sse-p95",
        "sse",
        r"^SSE delivery p95",
        "Live stream delivery p95 vs raw Redis pub/sub",
        "subscribers on one node",
        "p95 < 1 s",
    ),
    Curve(
        "auction-p99",
        "auction",
        r"accepted bid latency p99",
        "Timed auction: accepted bid p99 (2 nodes, open loop) vs bare SELECT … FOR UPDATE; UPDATE; COMMIT",
        "bids offered (open loop)",
        "p99 < 100 ms; 0 acknowledged bids lost after a worker and a node are killed",
    ),
    Curve(
        "auction-watchers",
        "auction",
        r"watcher delivery p95",
        "Timed auction: bid event delivery p95 to watchers vs raw Redis subscribers on auction:<id>",
        "watchers of one listing",
        "p95 < 1 s",
    ),
    Curve(
        "opening",
        "opening",
        r"^opening:",
        "Opening throughput vs age -d on the same files",
        "MiB per envelope (200 envelopes)",
        "≥ 1.0 × age -d",
        bar_ratio=1.0,
        higher_is_better=True,
    ),
    Curve(
        "opening-memory",
        "opening",
        r"^opening memory",
        "Peak RSS growth of the opening process",
        "MiB per envelope (200 envelopes)",
        "≤ 16 MiB at every size (flat)",
    ),
]


@dataclass
class Step:
    bench: str
    size: Size
    tier: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    took: float | None = None


def machine() -> str:
    """CPU model, cores, RAM and the disk the results (and the benches' temp files) live on."""
    cpu = platform.processor() or platform.machine()
    with _quiet():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = ""
    with _quiet():
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        ram = f", {kib / 1024 / 1024:.0f} GiB RAM"
    disk = ""
    with _quiet():
        src = subprocess.run(
            ["findmnt", "-no", "SOURCE,FSTYPE", "--target", tempfile.gettempdir()],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        dev = Path(src[0]).name.rstrip("0123456789") if src else ""
        rot = Path(f"/sys/block/{dev}/queue/rotational")
        kind = "" if not rot.exists() else ("rotating" if rot.read_text().strip() == "1" else "SSD/virtual")
        total = shutil.disk_usage(tempfile.gettempdir()).total / 2**30
        disk = f", disk {src[0]} ({src[1]}, {kind}, {total:.0f} GiB)"
    return f"{cpu}, {os.cpu_count()} cores{ram}{disk}; Python {platform.python_version()}"


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError | ValueError | IndexError)  # type: ignore[arg-type]


def rank(step: Step) -> tuple[int, int]:
    """The draw's two smaller sizes first (its bar failed last), then every other bench's first size, the
    draw's largest size, every bench's second size, …: a spent budget costs the largest sizes, never a whole
    bench; the suites of checks (whole test suites, not a curve) go last."""
    order = ORDER.index(step.bench) if step.bench in ORDER else len(ORDER)
    if step.bench == "checks":
        return (99, order)
    if step.bench == "draw":
        return (0, step.tier) if step.tier < 2 else (step.tier, -1)
    return (1 + step.tier, order)


def run_step(step: Step, timeout: float) -> None:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = Path(tmp.name)
    script = HERE / f"{step.bench}_bench.py"
    cmd = [sys.executable, str(script), "--json", str(out), *step.size.args]
    print(f"== {step.bench} {step.size.label}  ({' '.join(step.size.args)})", flush=True)
    started = time.perf_counter()
    # Its own process group: on a timeout the bench and the servers it started are stopped together.
    proc = subprocess.Popen(cmd, start_new_session=True)
    reason = ""
    try:
        code = proc.wait(timeout=max(1.0, timeout))
    except subprocess.TimeoutExpired:
        reason = f"stopped after {timeout:.0f} s: over the time budget"
        _stop(proc)
        code = proc.returncode
    step.took = time.perf_counter() - started
    text = out.read_text().strip() if out.exists() else ""
    out.unlink(missing_ok=True)
    if reason or not text:
        step.rows = [_failed(step, reason or f"exit {code} without figures")]
    else:
        step.rows = json.loads(text)
        if code != 0 and not any(r.get("pass") is False for r in step.rows):
            step.rows.append(_failed(step, f"exit {code}"))
    for row in step.rows:
        row.setdefault("bench", step.bench)
        row.setdefault("size", step.size.x)
        row.setdefault("size_label", step.size.label)
    print(f"   ({step.took:.1f} s)", flush=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT first (the bench's finally blocks drop its schemas and stop its servers), then SIGKILL."""
    for sig, wait in ((signal.SIGINT, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _failed(step: Step, reason: str) -> dict[str, Any]:
    return {
        "bench": step.bench,
        "figure": f"{step.bench} at {step.size.label or 'its size'}",
        "value": f"not measured: {reason}",
        "size": step.size.x,
        "size_label": step.size.label,
        "pass": False,
    }


def estimate(step: Step, done: list[Step]) -> float | None:
    """Seconds the step should take: its own hint, else linear in its size from the largest finished size of
    the bench."""
    if step.size.seconds is not None:
        return step.size.seconds
    prev = [s for s in done if s.bench == step.bench and s.took and s.size.x and step.size.x]
    if not prev:
        return None
    last = max(prev, key=lambda s: s.size.x or 0)
    return (last.took or 0) * (step.size.x or 0) / (last.size.x or 1)


def number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def curve_points(curve: Curve, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One point per size: measured, baseline (given, or measured / ratio), ratio, pass; failed sizes too."""
    points = []
    for r in rows:
        if r.get("bench") != curve.bench:
            continue
        failed_size = str(r.get("value", "")).startswith("not measured")
        if not failed_size and not re.search(curve.figure, str(r.get("figure", ""))):
            continue
        value, ratio = number(r.get("value")), number(r.get("ratio"))
        baseline = number(r.get("baseline"))
        if baseline is None and value is not None and ratio:
            baseline = value / ratio
        points.append(
            {
                "size": r.get("size"),
                "size_label": r.get("size_label") or "",
                "value": value if value is not None else r.get("value"),
                "unit": r.get("unit", ""),
                "baseline": baseline,
                "baseline_text": r.get("baseline", ""),
                "ratio": ratio,
                "pass": r.get("pass"),
            }
        )
    return sorted(points, key=lambda p: (p["size"] is None, p["size"] or 0))


def growth_row(curve: Curve, points: list[dict[str, Any]]) -> dict[str, Any] | None:
    """How the cost grows from the smallest to the largest measured size; judged when the curve must be
    linear (``growth_bar``)."""
    measured = [p for p in points if number(p["value"]) is not None and number(p["size"])]
    if len(measured) < 2 or curve.higher_is_better:  # a rate is not a cost
        return None
    lo, hi = measured[0], measured[-1]
    if lo["value"] <= 0:  # nothing at the smallest size (a memory growth of 0 MiB): no ratio to judge
        return None
    grew, scaled = hi["value"] / lo["value"], hi["size"] / lo["size"]
    return {
        "bench": curve.bench,
        "figure": f"{curve.title}: growth from {lo['size_label']} to {hi['size_label']}",
        "value": round(grew, 2),
        "unit": "×",
        "baseline": f"size × {scaled:g}",
        "ratio": round(grew / scaled, 3),
        "bar": f"≤ {scaled:g} (linear)" if curve.growth_bar else "",
        "pass": (grew <= scaled) if curve.growth_bar else None,
        "size": None,
    }


def fmt(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


def verdict(ok: Any) -> str:
    return {True: "pass", False: "FAIL"}.get(ok, "")


def curve_table(curve: Curve, points: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| size | measured | baseline | ratio | pass |",
        "|---|---|---|---|---|",
    ]
    for p in points:
        value = p["value"]
        measured = f"{fmt(value, 1)} {p['unit']}".strip() if number(value) is not None else str(value)
        base = fmt(p["baseline"], 1) if p["baseline"] is not None else str(p["baseline_text"] or "")
        lines.append(
            f"| {p['size_label']} | {measured} | {base} | {fmt(p['ratio'])} | {verdict(p['pass'])} |"
        )
    return lines


def plot(curve: Curve, points: list[dict[str, Any]], path: Path) -> bool:
    """Measured and baseline over the sizes (left), their ratio with the bar (right)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    good = [p for p in points if number(p["value"]) is not None and number(p["size"]) is not None]
    if not good:
        return False
    xs = [p["size"] for p in good]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(xs, [p["value"] for p in good], "o-", label="measured")
    based = [p for p in good if p["baseline"] is not None]
    if based:
        left.plot([p["size"] for p in based], [p["baseline"] for p in based], "s--", label="baseline")
    left.set_xlabel(curve.x_label)
    left.set_ylabel(good[0]["unit"] or "value")
    left.legend()
    rated = [p for p in good if p["ratio"] is not None]
    if rated:
        right.plot([p["size"] for p in rated], [p["ratio"] for p in rated], "o-", color="tab:green")
    if curve.bar_ratio is not None:
        right.axhline(curve.bar_ratio, color="tab:red", linestyle=":", label=f"bar {curve.bar_ratio:g}")
        right.legend()
    right.set_xlabel(curve.x_label)
    right.set_ylabel("ratio to baseline")
    for ax in (left, right):
        if len(xs) > 1 and max(xs) / max(min(xs), 1e-9) >= 20:
            ax.set_xscale("log")
        ax.grid(True, alpha=0.3)
    fails = [p["size_label"] for p in points if p not in good]
    note = f" — not measured: {', '.join(fails)}" if fails else ""
    fig.suptitle(f"{curve.title}\nbar: {curve.bar}{note}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def main() -> int:
    scale = os.environ.get("BENCH_SCALE", "full")
    if scale not in PLANS:
        print(f"BENCH_SCALE must be one of {', '.join(PLANS)}", file=sys.stderr)
        return 2
    budget = float(os.environ.get("BENCH_BUDGET") or BUDGETS[scale])
    only = set(sys.argv[1:])  # bench names: run only these and update their rows in the report
    names = sorted(p.stem.removesuffix("_bench") for p in HERE.glob("*_bench.py"))
    plan = PLANS[scale]
    steps = [
        Step(name, size, tier)
        for name in names
        if not only or name in only
        for tier, size in enumerate(plan.get(name, [Size()]))
    ]
    skipped = [n for n in names if (not only or n in only) and n in plan and not plan[n]]
    steps.sort(key=rank)
    started = time.perf_counter()
    done: list[Step] = []
    for step in steps:
        left = budget - (time.perf_counter() - started)
        guess = estimate(step, done)
        if left <= 0:
            step.rows = [_failed(step, f"not run: the time budget of {budget:.0f} s ({scale}) was spent")]
        elif guess is not None and guess > left:
            step.rows = [
                _failed(
                    step,
                    f"not run: {guess:.0f} s expected (linear from the previous size) > {left:.0f} s left "
                    f"of the {budget:.0f} s budget",
                )
            ]
        else:
            run_step(step, left)
        done.append(step)
    rows = [r for s in sorted(done, key=lambda s: (s.bench, s.tier)) for r in s.rows]
    rows += [
        {"bench": n, "figure": n, "value": f"not run in {scale} mode", "pass": None, "size": None}
        for n in skipped
    ]
    RESULTS.mkdir(exist_ok=True)
    previous = RESULTS / "latest.json"
    if only and previous.exists():  # a partial run replaces its benches' rows and keeps the others
        old = json.loads(previous.read_text())
        kept = [
            r
            for r in (old["rows"] if isinstance(old, dict) else old)
            if r.get("bench") not in only and ": growth from " not in str(r.get("figure"))
        ]
        rows = sorted(kept + rows, key=lambda r: str(r.get("bench")))
    took = time.perf_counter() - started
    report, code = write_report(rows, scale=scale, budget=budget, took=took)
    print(report)
    return code


def write_report(rows: list[dict[str, Any]], *, scale: str, budget: float, took: float) -> tuple[str, int]:
    where = machine()
    lines = [
        "# Benchmark report",
        "",
        f"Machine: {where}. Scale: `{scale}`, budget {budget:.0f} s, run took {took:.0f} s. "
        "Every baseline is measured in the same run as its figure.",
        "",
    ]
    growth: list[dict[str, Any]] = []
    for curve in CURVES:
        points = curve_points(curve, rows)
        if not points:
            continue
        png = RESULTS / f"{curve.name}.png"
        drawn = plot(curve, points, png)
        lines += [f"## {curve.title}", "", f"Bar: {curve.bar}.", ""]
        lines += curve_table(curve, points)
        lines += ["", f"![{curve.name}]({png.name})" if drawn else "(no plot: nothing measured)", ""]
        row = growth_row(curve, points)
        if row is not None:
            growth.append(row)
            lines += [f"Growth: {fmt(row['value'])} × for size × {row['baseline'].split('× ')[-1]}.", ""]
    all_rows = rows + growth
    lines += [
        "## Every figure",
        "",
        "| bench | size | figure | value | baseline | ratio | bar | pass |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in all_rows:
        value = f"{fmt(r.get('value'))} {r.get('unit', '')}".strip()
        ratio = r.get("ratio")
        ratio_txt = fmt(ratio) if number(ratio) is not None else (ratio or "")
        lines.append(
            f"| {r['bench']} | {r.get('size_label', '')} | {r['figure']} | {value} | "
            f"{fmt(r.get('baseline'))} | "
            f"{ratio_txt} | {r.get('bar', '')} | {verdict(r.get('pass'))} |"
        )
    report = "\n".join(lines) + "\n"
    (RESULTS / "latest.json").write_text(
        json.dumps({"machine": where, "scale": scale, "rows": all_rows}, ensure_ascii=False, indent=2)
    )
    (RESULTS / "latest.md").write_text(report)
    failed = any(r.get("pass") is False for r in all_rows)
    return report, 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
