"""The report of ``make bench`` (bench/run.py): every curve becomes a table and a PNG, a size that could not
run is a failed row with its reason (never a missing row), and linear growth is judged over the curve.
No timing is measured here: the rows are given."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

RUN_PY = Path(__file__).resolve().parent.parent / "bench" / "run.py"


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run_under_test", RUN_PY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path)
    yield module
    sys.modules.pop(spec.name, None)


def draw_row(size: int, value: float, base: float, ok: bool) -> dict[str, object]:
    return {
        "bench": "draw",
        "figure": "draw latency p95 (9 + 4, all exclusions)",
        "value": value,
        "unit": "ms",
        "baseline": f"{base} ms indexed SELECT",
        "ratio": round(value / base, 2),
        "bar": "≤ 1.5 × the SELECT",
        "pass": ok,
        "size": size,
        "size_label": f"{size:,} experts",
    }


def test_curve_table_png_and_a_failed_size(run: ModuleType, tmp_path: Path) -> None:
    step = run.Step("draw", run.Size(("--pool", "1000000"), 1_000_000, "1,000,000 experts"), 2)
    rows = [
        draw_row(10_000, 12.0, 10.0, True),
        draw_row(100_000, 140.0, 100.0, True),
        run._failed(step, "not run: 900 s expected (linear from the previous size) > 300 s left"),
    ]
    report, code = run.write_report(rows, scale="quick", budget=600, took=42)
    assert code == 1  # the size that could not run fails the report
    assert "| 1,000,000 experts | not measured: not run: 900 s expected" in report
    assert "| 100,000 experts | 140.0 ms | 100.0 | 1.40 | pass |" in report  # baseline = value / ratio
    assert "![draw-p95](draw-p95.png)" in report
    assert (tmp_path / "draw-p95.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "latest.md").read_text() == report
    assert "Machine: " in report


def test_linear_growth_is_judged_over_the_curve(run: ModuleType) -> None:
    def verify(size: int, seconds: float) -> dict[str, object]:
        return {
            "bench": "audit",
            "figure": f"verify_log, {size:,} leaves (sqlite)",
            "value": seconds,
            "unit": "s",
            "pass": True,
            "size": size,
            "size_label": f"{size:,} leaves",
        }

    curve = next(c for c in run.CURVES if c.name == "audit-verify")

    def growth(big: float) -> dict[str, object] | None:
        points = run.curve_points(curve, [verify(1_000_000, 5.0), verify(10_000_000, big)])
        return run.growth_row(curve, points)

    linear = growth(48.0)
    assert linear is not None and linear["pass"] is True and linear["value"] == 9.6
    worse = growth(61.0)
    assert worse is not None
    assert worse["pass"] is False
    assert run.growth_row(curve, run.curve_points(curve, [verify(1_000_000, 5.0)])) is None
    # a cost of zero at the smallest size (memory flat at 0 MiB) has no growth ratio: no row, no crash
    assert growth(0.0) is not None
    flat = run.curve_points(curve, [verify(1_000_000, 0.0), verify(10_000_000, 0.0)])
    assert run.growth_row(curve, flat) is None


def test_estimate_is_linear_from_the_largest_finished_size(run: ModuleType) -> None:
    small = run.Step("audit", run.Size((), 1_000_000, ""), 0, took=30.0)
    big = run.Step("audit", run.Size((), 10_000_000, ""), 1)
    assert run.estimate(big, [small]) == pytest.approx(300.0)
    assert run.estimate(big, []) is None
