"""The statements of one expert draw (issue 21): the draw of bench/draw_bench.py, with every SQL statement
counted and grouped by its first words, and optionally a cProfile of the timed draws.

    python bench/draw_statements.py [--pool 10000] [--runs 10] [--profile] [--list]

Same schema, population and draw as bench/draw_bench.py (it reuses that module), on ``DATABASE_URL``.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import draw_bench


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pool", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--list", action="store_true", help="print the statements of the last draw")
    args = parser.parse_args()

    with draw_bench.own_schema() as url:
        run(url, args)
    return 0


def run(url: str, args: argparse.Namespace) -> None:
    from sqlalchemy import event

    from app import create_app

    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": tempfile.mkdtemp(prefix="draw-stmts-"),
            "SQLALCHEMY_DATABASE_URI": url,
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": f"-csearch_path={draw_bench.SCHEMA}"}},
            "AUDIT_CHECKPOINT_EVERY": 0,
        }
    )
    with app.app_context():
        from app.accounts.models import User
        from app.core.clock import clock
        from app.core.db import db
        from app.experts import draws
        from app.projects.models import Section

        draw_bench.build_schema(db)
        world = draw_bench.populate(db, args.pool)
        gc.collect()  # as bench/draw_bench.py (and a gunicorn worker) does
        gc.freeze()
        statements: list[tuple[str, float]] = []
        started: list[float] = []

        def before(conn: Any, cursor: Any, stmt: str, params: Any, context: Any, many: bool) -> None:
            started.append(time.perf_counter())

        def after(conn: Any, cursor: Any, stmt: str, params: Any, context: Any, many: bool) -> None:
            statements.append((stmt, (time.perf_counter() - started.pop()) * 1000))

        event.listen(db.engine, "before_cursor_execute", before)
        event.listen(db.engine, "after_cursor_execute", after)
        s = db.session
        slots = [draws.Slot("A0101", 5, 2), draws.Slot("A0601", 2, 1), draws.Slot("A0201", 2, 1)]
        evaluation = world["t0"] + dt.timedelta(days=3)
        profile = cProfile.Profile()
        counts: list[int] = []
        sql_ms: list[float] = []
        total_ms: list[float] = []
        cpu_ms: list[float] = []
        for i in range(args.runs + 3):
            section = s.get(Section, world["sections"][i])
            staff = s.get(User, world["staff"])
            regulator = s.get(User, world["regulator"])
            statements.clear()
            timed = i >= 3
            t = time.perf_counter()
            c = time.process_time()
            if timed and args.profile:
                profile.enable()
            draw = draws.request_draw(
                section, slots=slots, evaluation_starts_at=evaluation, panel_size=9, actor=staff
            )
            draws.witness(draw, f"bench witness {i}", actor=regulator)
            s.commit()
            if timed and args.profile:
                profile.disable()
            if timed:
                total_ms.append((time.perf_counter() - t) * 1000)
                cpu_ms.append((time.process_time() - c) * 1000)
                counts.append(len(statements))
                sql_ms.append(sum(ms for _, ms in statements))
            clock.advance(dt.timedelta(seconds=1))
        last = list(statements)
        print(f"statements per draw: {sorted(set(counts))}  (runs {len(counts)})")
        print(
            f"mean draw {sum(total_ms) / len(total_ms):.1f} ms, of which in statements "
            f"{sum(sql_ms) / len(sql_ms):.1f} ms; CPU of this process {statistics.median(cpu_ms):.1f} ms "
            f"(median); wall p50 {statistics.median(total_ms):.1f} ms"
        )
        groups: Counter[str] = Counter()
        group_ms: Counter[str] = Counter()
        for stmt, ms in last:
            key = " ".join(stmt.split()[:4])[:70]
            groups[key] += 1
            group_ms[key] += ms
        for key, n in groups.most_common():
            print(f"{n:4d} {group_ms[key]:8.2f} ms  {key}")
        if args.list:
            for stmt, ms in last:
                print(f"{ms:8.2f} ms  {' '.join(stmt.split())[:200]}")
        if args.profile:
            pstats.Stats(profile).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(45)


if __name__ == "__main__":
    raise SystemExit(main())
