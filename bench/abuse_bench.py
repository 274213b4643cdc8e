"""Abuse: the site under an anonymous denial-of-service attempt, behind the documented production front
(SPEC §10 "abuse", issue 14). nginx with the repository's configuration (deploy/nginx/) in front of the
request workers (gunicorn.conf.py: 2 gthread workers × 4 threads) and the stream service
(gunicorn.streams.conf.py), with Redis, one machine, loopback only (tests/front.py starts and stops it all).

    python bench/abuse_bench.py --json OUT [--subscribers 1000] [--slow 100] [--bidders 20] [--mib 2]

1. baseline: the portal's p95 over ``--requests`` requests, nothing else running;
2. attack: ``--subscribers`` anonymous subscribers of the opening hall's event stream, from 50 loopback
   addresses (20 each, the per-address cap) plus one more at a full address (must get 429), and ``--slow``
   slow-body connections (half to the sign-in form, half anonymous to the envelope API, a byte every 2 s);
3. meanwhile ``--bidders`` bidders each upload a sealed envelope of ``--mib`` MiB (every one must be
   receipted), and the portal is measured again;
4. an event of the hall is published; its delivery to every subscriber is timed.

Rows: subscribers held, over-cap refusal, slow bodies held, uploads receipted, portal p95 under attack (bar
< 1 s; baseline and ratio: the same portal before the attack), hall event delivery p95 (bar < 1 s).
Needs nginx and Redis (``REDIS_URL``, default redis://127.0.0.1:6379/0); writes a skip row without them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import front, servers  # noqa: E402 - the same front the abuse test runs

PER_ADDRESS = 20


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def _portal(port: int, n: int) -> tuple[list[float], int]:
    """``n`` sequential portal requests on one keep-alive connection: latencies of the 200s, and failures."""
    import http.client

    times: list[float] = []
    failed = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(n):
        started = time.perf_counter()
        try:
            conn.request("GET", "/portal/")
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                times.append(time.perf_counter() - started)
            else:
                failed += 1
        except (OSError, http.client.HTTPException):
            failed += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.close()
    return times, failed


async def _subscriber(
    port: int, source: str, path: str, marker: str, ready: Any, got: dict[int, float], k: int
) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0), limit=1 << 20)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    ready(status)
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            if marker.encode() in line:
                got[k] = time.perf_counter()
    finally:
        writer.close()
    return status


async def _slow(port: int, source: str, head: str, stop: asyncio.Event, answers: list[str]) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    except OSError as err:
        answers.append(f"connect failed: {err}")
        return
    writer.write(head.encode())
    answer = asyncio.ensure_future(reader.readline())
    try:
        while not stop.is_set() and not answer.done():
            writer.write(b"a")
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            await asyncio.wait([answer], timeout=2)
        answers.append(answer.result().decode().strip() if answer.done() else "held")
    except (ConnectionError, OSError):
        answers.append("closed")
    finally:
        answer.cancel()
        writer.close()


def _upload(
    port: int, bidder: dict[str, Any], info: dict[str, Any], n: int, mib: int, out: list[Any]
) -> None:
    import pyrage

    sid = info["section_id"]
    body = pyrage.encrypt(os.urandom(mib << 20), [pyrage.x25519.Recipient.from_str(info["recipient"])])
    headers = {**servers.signed_headers(bidder, sid, body, "document"), "Idempotency-Key": f"abuse-bench-{n}"}
    path = f"/api/v1/bidding/sections/{sid}/envelopes?kind=document&name=tech-{n}.pdf"
    started = time.perf_counter()
    try:
        status, answer = servers.put(port, path, body, headers)
    except Exception as err:
        status, answer = 0, repr(err)
    out.append((status, answer, time.perf_counter() - started))


async def attack(site: front.Front, info: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    hall = f"/bidding/sections/{info['section_id']}/events"
    marker = f"abuse-bench-{secrets.token_hex(6)}"
    addresses = [
        f"127.0.{1 + k // 200}.{10 + k % 200}"
        for k in range((args.subscribers + PER_ADDRESS - 1) // PER_ADDRESS)
    ]
    statuses: list[int] = []
    got: dict[int, float] = {}
    tasks = []
    for k in range(args.subscribers):
        source = addresses[k // PER_ADDRESS]
        tasks.append(
            asyncio.ensure_future(_subscriber(site.port, source, hall, marker, statuses.append, got, k))
        )
    deadline = time.monotonic() + 180
    while len(statuses) < args.subscribers and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    held = statuses.count(200)
    over: list[int] = []
    extra = asyncio.ensure_future(_subscriber(site.port, addresses[0], hall, marker, over.append, {}, -1))
    while not over and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    extra.cancel()

    stop = asyncio.Event()
    answers: list[str] = []
    slow_sources = [f"127.0.100.{n}" for n in range(10, 20)]
    slow = []
    for k in range(args.slow):
        if k % 2:
            head = (
                "POST /auth/login HTTP/1.1\r\nHost: localhost\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
            )
        else:
            head = (
                f"PUT /api/v1/bidding/sections/{info['section_id']}/envelopes?kind=summary HTTP/1.1\r\n"
                "Host: localhost\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {10 << 20}\r\n\r\n"
            )
        slow.append(
            asyncio.ensure_future(_slow(site.port, slow_sources[k % len(slow_sources)], head, stop, answers))
        )
    await asyncio.sleep(2)

    loop = asyncio.get_running_loop()
    receipts: list[Any] = []
    uploads = [
        threading.Thread(target=_upload, args=(site.port, bidder, info, n, args.mib, receipts))
        for n, bidder in enumerate(info["bidders"])
    ]
    for t in uploads:
        t.start()
    portal, portal_failed = await loop.run_in_executor(None, _portal, site.port, args.requests)
    await loop.run_in_executor(None, lambda: [t.join(600) for t in uploads])
    still_open = sum(1 for t in tasks if not t.done())

    import redis

    client = redis.Redis.from_url(site.env["REDIS_URL"])
    sent = time.perf_counter()
    client.publish(f"opening:{info['section_id']}", json.dumps({"data": {"event": marker}, "id": None}))
    client.close()
    wait_until = time.monotonic() + 60
    while len(got) < held and time.monotonic() < wait_until:
        await asyncio.sleep(0.05)
    delivery = [at - sent for at in got.values()]
    stop.set()
    await asyncio.wait_for(asyncio.gather(*slow, return_exceptions=True), timeout=60)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "held": held,
        "still_open": still_open,
        "over": over[0] if over else None,
        "slow_answers": answers,
        "receipts": receipts,
        "portal": portal,
        "portal_failed": portal_failed,
        "delivery": delivery,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", required=True)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--slow", type=int, default=100)
    parser.add_argument("--bidders", type=int, default=20)
    parser.add_argument("--mib", type=int, default=2)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    url = front.redis_url()
    if front.nginx_binary() is None or url is None:
        why = "nginx is not installed" if url else "no Redis"
        Path(args.json).write_text(
            json.dumps([{"figure": "abuse", "value": f"skipped: {why}", "pass": None}])
        )
        return 0
    work = Path(tempfile.mkdtemp(prefix="abuse-bench-"))
    (work / "instance").mkdir()
    env = servers.app_env(work, database_url=os.environ.get("ABUSE_BENCH_DATABASE_URL"))
    env.update(
        REDIS_URL=url, STREAMS_KEY_PREFIX=f"ggzy:abuse-bench:{secrets.token_hex(4)}", LOG_LEVEL="warning"
    )
    info = servers.seed(work, env, bidders=args.bidders)
    site = front.Front(env, work)
    try:
        servers.http_request(site.port, "GET", "/portal/")  # warm both workers' caches
        base, base_failed = _portal(site.port, args.requests)
        result = asyncio.run(attack(site, info, args))
    finally:
        site.stop()
    receipts = result["receipts"]
    ok_receipts = sum(
        1
        for status, answer, _t in receipts
        if status == 201 and isinstance(answer, dict) and "receipt" in answer
    )
    slowest = max((t for *_x, t in receipts), default=0.0)
    portal_p95, base_p95 = _pct(result["portal"], 0.95), _pct(base, 0.95)
    delivery_p95 = _pct(result["delivery"], 0.95)
    slow_held = sum(
        1 for a in result["slow_answers"] if a in ("held", "closed") or " 401 " in a or " 408 " in a
    )
    rows = [
        {
            "figure": f"anonymous hall subscribers held ({PER_ADDRESS} per address)",
            "value": f"{result['held']}/{args.subscribers} (open at the end: {result['still_open']})",
            "bar": "all",
            "pass": result["held"] == args.subscribers and result["still_open"] == args.subscribers,
        },
        {
            "figure": "one more subscriber at a full address",
            "value": f"HTTP {result['over']}",
            "bar": "429",
            "pass": result["over"] == 429,
        },
        {
            "figure": f"slow-body connections ({args.slow}: sign-in form, anonymous envelope API)",
            "value": f"{slow_held}/{args.slow} held by nginx or refused from their headers",
            "bar": "none reaches a request thread",
            "pass": slow_held == args.slow,
        },
        {
            "figure": f"uploads receipted under attack ({args.bidders} bidders × {args.mib} MiB)",
            "value": f"{ok_receipts}/{args.bidders}; slowest {slowest:.2f} s",
            "bar": "every upload receipted",
            "pass": ok_receipts == args.bidders,
        },
        {
            "figure": f"portal p95 under attack ({len(result['portal'])} requests, {result['portal_failed']} "
            "failed)",
            "value": round(portal_p95 * 1000, 1),
            "unit": "ms",
            "baseline": f"p95 {base_p95 * 1000:.1f} ms before the attack ({base_failed} failed)",
            "ratio": round(portal_p95 / base_p95, 2) if base_p95 > 0 else None,
            "bar": "p95 < 1000 ms",
            "pass": portal_p95 < 1.0 and result["portal_failed"] == 0,
        },
        {
            "figure": f"hall event delivered to the {result['held']} subscribers, p95",
            "value": round(delivery_p95 * 1000, 1),
            "unit": "ms",
            "baseline": f"{len(result['delivery'])} delivered",
            "bar": "all, p95 < 1000 ms",
            "pass": len(result["delivery"]) == result["held"] and delivery_p95 < 1.0,
        },
    ]
    Path(args.json).write_text(json.dumps(rows, ensure_ascii=False, indent=2))
    for row in rows:
        print(f"   {row['figure']}: {row['value']} {row.get('unit', '')} (bar {row['bar']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
