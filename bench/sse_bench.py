"""SSE fan-out: N subscribers on the live supervision stream, held by the stream service (2 asyncio
processes, gunicorn.streams.conf.py; no request thread) with Redis, receive an audit event within 1 s
(SPEC §10 via issue 8). Baseline in the same run: raw Redis pub/sub delivery to the same number of
subscribers (what the stream adds on top of Redis is the figure's cost).

    python bench/sse_bench.py --json OUT [--subscribers 500] [--events 5]

Needs Redis (``REDIS_URL``, default redis://127.0.0.1:6379/0); writes a skip row without it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MARKER = "bench:sse:event"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


# -- baseline: raw Redis pub/sub -------------------------------------------------------------------------


async def redis_baseline(url: str, n: int, events: int) -> list[float]:
    import redis.asyncio as aredis

    client = aredis.Redis.from_url(url, max_connections=n + 10)
    subs = []
    for _ in range(n):
        ps = client.pubsub(ignore_subscribe_messages=True)
        await ps.subscribe("bench:raw")
        subs.append(ps)
    await asyncio.sleep(0.5)
    latencies: list[float] = []

    async def listen(ps: Any, want: int) -> None:
        got = 0
        while got < want:
            msg = await ps.get_message(timeout=2.0)
            if msg is None:
                continue
            latencies.append(time.perf_counter() - float(msg["data"]))
            got += 1

    tasks = [asyncio.create_task(listen(ps, events)) for ps in subs]
    for _ in range(events):
        await client.publish("bench:raw", repr(time.perf_counter()))
        await asyncio.sleep(0.5)
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    for ps in subs:
        await ps.aclose()
    await client.aclose()
    return latencies


# -- the figure: SSE through gunicorn ---------------------------------------------------------------------


def _prepare(env: dict[str, str]) -> str:
    """Migrate the database and open a signed-in regulator session; return the session cookie."""
    os.environ.update(env)
    from flask_migrate import upgrade

    from app import create_app
    from app.accounts import services as accounts
    from app.accounts.models import Organization, User
    from app.core.clock import now
    from app.core.db import db

    app = create_app({"INSTANCE_PATH": env["BENCH_INSTANCE"]})
    with app.app_context():
        upgrade(revision="heads")
        org = accounts.create_organization(
            "bench regulator", "regulator", actor=None, industry="housing_construction"
        )
        user: User = accounts.create_user(
            username="benchreg",
            display_name="bench",
            organization=db.session.get(Organization, org.id),
            role="regulator",
            password=os.urandom(16).hex(),
            actor=None,
        )
        raw, row = accounts.start_session(user, ip="127.0.0.1", user_agent="sse-bench")
        row.mfa_passed_at = now()
        db.session.commit()
        with app.test_request_context():
            serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
            assert serializer is not None
            cookie = serializer.dumps({"_user_id": raw})
        db.session.remove()
    return f"session={cookie}"


async def _subscriber(
    port: int, cookie: str, want: int, sent: dict[int, float], out: list[float], ready: Any
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(
        (
            f"GET /supervision/stream?type={MARKER} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
            "Accept: text/event-stream\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"stream refused: {status!r}")
    got = 0
    first = True
    while got < want:
        line = await reader.readline()
        if not line:
            break
        if first:
            first = False
        if line.startswith(b"retry:"):
            ready()
        if line.startswith(b"data: ") and MARKER.encode() in line:
            at = time.perf_counter()
            data = json.loads(line[6:])
            seq = int(data["object_id"])
            if seq in sent:
                out.append(at - sent[seq])
            got += 1
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


def _publisher(env: dict[str, str], seq: int, sent: dict[int, float]) -> None:
    from app import create_app
    from app.core import audit
    from app.core.db import db

    os.environ.update(env)
    app = (
        _publisher.app if hasattr(_publisher, "app") else create_app({"INSTANCE_PATH": env["BENCH_INSTANCE"]})
    )
    _publisher.app = app  # type: ignore[attr-defined]
    with app.app_context():
        audit.record(MARKER, object_type="bench", object_id=seq, payload={})
        sent[seq] = time.perf_counter()  # set before the commit: the first deliveries beat its return
        db.session.commit()  # the event leaves after this commit (events.publish → Redis)
        db.session.remove()


async def sse_figure(
    port: int, cookie: str, n: int, events: int, env: dict[str, str]
) -> tuple[list[float], int]:
    sent: dict[int, float] = {}
    latencies: list[float] = []
    connected = 0

    def ready() -> None:
        nonlocal connected
        connected += 1

    tasks = [asyncio.create_task(_subscriber(port, cookie, events, sent, latencies, ready)) for _ in range(n)]
    deadline = time.monotonic() + 60
    while connected < n and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # every stream has passed its first poll: subscribed to Redis
    loop = asyncio.get_running_loop()
    for seq in range(1, events + 1):
        await loop.run_in_executor(None, _publisher, env, seq, sent)
        await asyncio.sleep(1.0)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=20)
    for t in tasks:
        t.cancel()
    return latencies, connected


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", required=True)
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--events", type=int, default=5)
    args = parser.parse_args()
    _raise_fd_limit()
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    rows: list[dict[str, Any]] = []
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception as err:
        Path(args.json).write_text(
            json.dumps([{"figure": "SSE fan-out", "value": f"skipped: no Redis ({err})", "pass": None}])
        )
        return 0

    n, events = args.subscribers, args.events
    base = asyncio.run(redis_baseline(url, n, events))

    tmp = Path(tempfile.mkdtemp(prefix="sse-bench-"))
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    env = {
        "BENCH_INSTANCE": str(tmp),
        "DATABASE_URL": os.environ.get("SSE_BENCH_DATABASE_URL", f"sqlite:///{tmp}/bench.db"),
        "REDIS_URL": url,
        "SECRET_KEY": os.urandom(16).hex(),
        "DATA_KEY": "bench-data-key-" + os.urandom(8).hex(),
        "PLATFORM_SIGNING_KEY": pem.decode(),
        "AUDIT_CHECKPOINT_EVERY": "0",
        "LOG_LEVEL": "warning",
        "STREAMS_PER_IP": str(n + 10),  # every subscriber is on 127.0.0.1; the caps are abuse_bench's subject
        "STREAMS_TOTAL": str(max(5000, n + 10)),  # 5,000 subscribers (issue 21) is the default cap itself
        "STREAMS_KEY_PREFIX": f"ggzy:sse-bench:{os.getpid()}",
    }
    cookie = _prepare(env)
    port = _free_port()
    # The stream service (app/core/stream_service.py): streams on two asyncio processes, no request thread.
    gunicorn = [
        sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.streams.conf.py"),
        "--workers", "2", "--bind", f"127.0.0.1:{port}", "--access-logfile", "/dev/null",
        "app.core.stream_service:create_asgi_app()",
    ]  # fmt: skip
    server = subprocess.Popen(gunicorn, cwd=ROOT, env={**os.environ, **env})
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.1)
        latencies, connected = asyncio.run(sse_figure(port, cookie, n, events, env))
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(30)
        if server.poll() is None:
            server.kill()

    expected = n * events
    delivered = len(latencies)
    within = sum(1 for x in latencies if x <= 1.0)
    ok = delivered == expected and within == expected
    p50, p95 = (_pct(latencies, 0.5), _pct(latencies, 0.95)) if latencies else (float("nan"),) * 2
    b50, b95 = _pct(base, 0.5), _pct(base, 0.95)
    rows.append(
        {
            "figure": f"SSE delivery p50, {n} subscribers / stream service (2 processes) / Redis",
            "value": round(p50 * 1000, 1),
            "unit": "ms",
            "baseline": f"raw Redis pub/sub p50 {b50 * 1000:.1f} ms",
            "ratio": round(p50 / b50, 2) if b50 > 0 else None,
            "bar": "every subscriber within 1 s",
            "pass": ok,
        }
    )
    rows.append(
        {
            "figure": f"SSE delivery p95, {n} subscribers / stream service (2 processes) / Redis",
            "value": round(p95 * 1000, 1),
            "unit": "ms",
            "baseline": f"raw Redis pub/sub p95 {b95 * 1000:.1f} ms",
            "ratio": round(p95 / b95, 2) if b95 > 0 else None,
            "bar": "p95 < 1000 ms",
            "pass": p95 < 1.0,
        }
    )
    rows.append(
        {
            "figure": "SSE events delivered",
            "value": f"{delivered}/{expected} ({within} within 1 s; {connected}/{n} connected)",
            "baseline": f"raw Redis {len(base)}/{expected}",
            "bar": "all",
            "pass": ok,
        }
    )
    Path(args.json).write_text(json.dumps(rows, ensure_ascii=False, indent=2))
    for row in rows:
        print(f"   {row['figure']}: {row['value']} {row.get('unit', '')} (baseline {row.get('baseline')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
