"""Timed auction under load (issue 19): 1,000 qualified bidders on one listing in timed bidding, an open-loop
offered load of bids against real gunicorn nodes, a worker and a whole node killed mid-auction, then the
fan-out of the auction's bid events to many watchers.

    python bench/auction_bench.py --json OUT [--bidders 1000] [--rate 200] [--seconds 30] [--watchers 5000]
        [--events 5]

Set-up (not timed): a throwaway PostgreSQL database (``DATABASE_URL`` or
``postgresql://postgres@127.0.0.1:5432/test``; created here, dropped afterwards), a private ``redis-server``
started here (pub/sub is global to a Redis server: a shared one would bring other jobs' events into the
streams; without the binary ``REDIS_URL`` or ``redis://127.0.0.1:6379/15``), a published land listing, N
bidder organizations registered, deposit confirmed and qualified through the services, two quotes in the
listing period; the servers run on the demo clock (``DEMO_CLOCK=1``) placed just after the listing end, so
the first request settles the listing into timed bidding (限时竞价).

1. Load: two gunicorn nodes (``gunicorn.conf.py``: 2 gthread workers each), bids sent at scheduled instants
   (``--rate`` per second for ``--seconds``: open loop, a late answer never delays the next send) over as many
   keep-alive connections as the load needs. Each bid is a random qualified bidder offering the current
   price plus the increment as the clients last saw it (the auction's feed, channel ``auction:<id>``, or an
   answer), so most bids lose the race behind the listing lock and are refused (``below_increment``):
   every answer must be 201 or a 4xx with a ``code``. The latency of accepted bids is the server's own
   (gunicorn's access log, ``%(L)s``: request parsed → answer written, lock wait included; the time a
   connection waits for a worker thread is not in it); the client-side one (from the scheduled send) is
   given too.
   Baseline in the same run: a bare ``SELECT … FOR UPDATE; UPDATE; COMMIT`` on the same PostgreSQL, one
   connection (the physical floor of a serialized bid). The issue's bar: p99 < 100 ms.
2. Faults: at 40 % of the run one worker of node A is SIGKILLed (its master forks a new one), at 65 % the
   whole node B (master and workers) is SIGKILLed and started again; sends to a node that refuses the
   connection go to the other node. Afterwards no acknowledged bid may be lost: every 201's ``seq`` is in
   ``auction_bid`` with its amount and its audit leaf, the sequence is gapless, each bid's countdown ends
   ``countdown_seconds`` after its ``placed_at`` and the listing's countdown after the last bid's.
3. Watchers: N watchers on the listing's own live stream (``/auctions/<id>/events``, the page's
   EventSource; stream service, 2 processes, fed by channel ``auction:<id>``) receiving every accepted bid;
   the baseline is N raw Redis subscribers on ``auction:<id>`` itself receiving the same kind of bids.
   Delivery is measured from the bid's ``placed_at`` (decided behind the lock, before the commit).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sse_bench  # noqa: E402
import surge_bench  # noqa: E402

BAR_P99 = 0.100  # issue 19: accepted bid p99 < 100 ms
BAR_FANOUT = 1.0  # SSE delivery p95 < 1 s (issue 21, as the hall's stream)
ACTION = "auctions:bid:place"
T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # Monday 2 March 2026, 09:00 Beijing time
LAND_START = T0 + dt.timedelta(days=22)
LAND_END = T0 + dt.timedelta(days=36, hours=6)
START_PRICE = Decimal("10000000")
INCREMENT = Decimal("100000")

_children: list[subprocess.Popen[bytes]] = []
ENDS: dict[str, int] = {}  # how watcher streams ended before their events


# -- set-up ------------------------------------------------------------------------------------------------


@dataclass
class World:
    app: Any
    listing_id: int
    tokens: list[str]
    cookie: str  # a regulator's session (may watch the listing's stream)
    price: Decimal
    turn: int = 0  # the watcher phases' bids alternate two bidders kept out of the load


def seed(env: dict[str, str], instance: Path, bidders: int) -> World:
    """Migrate, then everything through the services at fixed instants; leave the demo clock just after
    the listing end."""
    subprocess.run(
        [sys.executable, "-m", "flask", "db", "upgrade", "heads"],
        check=True,
        cwd=ROOT,
        env=env,
        capture_output=True,
    )
    os.environ.update(env)
    from app import create_app
    from app.accounts import passwords
    from app.accounts import services as accounts
    from app.auctions import services
    from app.core import democlock
    from app.core.clock import clock, now
    from app.core.db import db
    from app.core.permissions import OrgKind, Role
    from app.projects.seeding import publish_catalogue_at

    app = create_app({"INSTANCE_PATH": str(instance), "BLOB_DIR": env["BLOB_DIR"]})
    fixed = passwords.hash_password("auction-bench-never-used")
    original = passwords.hash_password
    passwords.hash_password = lambda _pw: fixed  # type: ignore[assignment]  # API tokens only: no logins
    try:
        with app.test_request_context():

            def user(role: Role, kind: OrgKind, name: str, **kw: Any) -> Any:
                org = accounts.create_organization(name, kind, actor=None, **kw)
                return accounts.create_user(
                    username=name,
                    display_name=name,
                    organization=org,
                    role=role,
                    password="x" * 16,
                    actor=None,
                )

            clock.freeze(T0 - dt.timedelta(days=30))
            manager = user(Role.MANAGER, OrgKind.MANAGEMENT_OFFICE, "office")
            catalogue = publish_catalogue_at(manager, T0 - dt.timedelta(days=1), title="bench")
            staff = user(Role.CENTER_STAFF, OrgKind.TRADING_CENTER, "center")
            transferor = user(Role.TENDERER, OrgKind.TENDERER, "transferor")
            regulator = user(Role.REGULATOR, OrgKind.REGULATOR, "regulator", industry="housing_construction")
            people = [user(Role.BIDDER, OrgKind.BIDDER, f"竞买人{i:04d}") for i in range(bidders)]
            tokens = [accounts.create_api_token(u, "auction-bench").raw for u in people]
            db.session.commit()
            clock.freeze(T0)
            item = next(i.id for i in catalogue.items if i.code == "TD-01")
            listing = services.create_listing(
                services.ListingInput(
                    catalogue_item_id=item,
                    title="基准测试地块国有建设用地使用权",
                    notice_at=T0,
                    listing_starts_at=LAND_START,
                    listing_ends_at=LAND_END,
                    start_price=START_PRICE,
                    increment=INCREMENT,
                    deposit=Decimal("2000000"),
                    reserve_price=START_PRICE,
                ),
                actor=transferor,
            )
            services.publish_listing(listing, actor=transferor)
            db.session.commit()
            clock.freeze(LAND_START + dt.timedelta(days=1))
            for i, u in enumerate(people):
                reg = services.register(listing, actor=u)
                services.confirm_deposit(reg, amount=listing.deposit, reference=f"BANK-{i}", actor=staff)
                services.review(reg, accept=True, note="", actor=staff)
                if i % 100 == 99:
                    db.session.commit()
            db.session.commit()
            listing_id = listing.id
            services.place_bid(listing_id, START_PRICE, actor=people[0])  # two quotes: timed bidding follows
            services.place_bid(listing_id, START_PRICE + INCREMENT, actor=people[1])
            raw, row = accounts.start_session(regulator, ip="127.0.0.1", user_agent="auction-bench")
            row.mfa_passed_at = now()
            db.session.commit()
            serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
            cookie = f"session={serializer.dumps({'_user_id': raw})}"
            app.config["DEMO_CLOCK"] = True
            clock.reset()
            democlock.start_at(LAND_END + dt.timedelta(seconds=1), actor=None)
            db.session.commit()
            db.session.remove()
    finally:
        passwords.hash_password = original  # type: ignore[assignment]
    return World(app, listing_id, tokens, cookie, START_PRICE + INCREMENT)


# -- servers -----------------------------------------------------------------------------------------------


class Node:
    """gunicorn with the project's settings (gunicorn.conf.py: gthread), its access log kept for ``%(L)s``."""

    def __init__(self, env: dict[str, str], log: Path, access: Path, workers: int, threads: int) -> None:
        self.env, self.log_path, self.access, self.workers, self.threads = env, log, access, workers, threads
        self.port = sse_bench._free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115  # the child holds it
        cmd = [
            sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
            "--workers", str(self.workers), "--threads", str(self.threads), "--backlog", "2048",
            "--bind", f"127.0.0.1:{self.port}", "--access-logfile", str(self.access),
            "app:create_app()",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,  # the whole node can be killed at once
        )
        log.close()
        _children.append(self.proc)
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if all(self._get("/api/v1/health") < 500 for _ in range(2 * self.workers)):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def _get(self, path: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()

    def workers_pids(self) -> list[int]:
        assert self.proc is not None
        text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        return [int(p) for p in text.split()]

    def kill_node(self) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill_node()


# -- the load ----------------------------------------------------------------------------------------------


@dataclass
class Answer:
    scheduled: float
    status: int  # 0: the connection was cut or refused on every node
    body: dict[str, Any] = field(default_factory=dict)
    latency: float = 0.0  # from the scheduled send to the answer (client side)
    error: str = ""
    node: int = 0
    done: float = 0.0


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        self.writer.write(head + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionResetError("closed before the answer")
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        data = await self.reader.readexactly(length) if length else b""
        if close:
            raise _Closing(status, data)
        return status, data

    def close(self) -> None:
        self.writer.close()


class _Closing(Exception):
    def __init__(self, status: int, data: bytes) -> None:
        self.status, self.data = status, data


class Load:
    """Open loop: bid ``i`` leaves at ``t0 + i / rate`` on an idle keep-alive connection of its node, or a new
    one; a refused connection goes to the other node (nothing was sent, so it is a new bid, not a retry)."""

    def __init__(
        self, ports: list[int], listing_id: int, tokens: list[str], price: Decimal, seed: int
    ) -> None:
        self.ports, self.listing_id, self.tokens = ports, listing_id, tokens
        self.price = price  # the highest price any answer has shown so far
        self.idle: list[list[Conn]] = [[] for _ in ports]
        self.answers: list[Answer] = []
        self.rng = random.Random(seed)
        self.peak = 0
        self.open = 0

    async def _conn(self, node: int) -> Conn:
        if self.idle[node]:
            return self.idle[node].pop()
        reader, writer = await asyncio.open_connection("127.0.0.1", self.ports[node])
        self.open += 1
        self.peak = max(self.peak, self.open)
        return Conn(reader, writer)

    async def one(self, i: int, scheduled: float) -> None:
        token = self.tokens[self.rng.randrange(len(self.tokens))]
        amount = self.price + INCREMENT
        body = json.dumps({"amount": f"{amount:.2f}"}).encode()
        head = (
            f"POST /api/v1/auctions/listings/{self.listing_id}/bids HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        answer = Answer(scheduled, 0)
        first = i % len(self.ports)
        for node in (first, 1 - first) if len(self.ports) == 2 else (first,):
            answer.node = node
            try:
                conn = await self._conn(node)
            except OSError as err:
                answer.error = f"connect: {err.__class__.__name__}"
                continue  # nothing sent: the other node takes it
            try:
                status, data = await conn.request(head, body)
                self.idle[node].append(conn)
            except _Closing as closing:
                status, data = closing.status, closing.data
                conn.close()
                self.open -= 1
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as err:
                conn.close()
                self.open -= 1
                answer.error = f"cut: {err.__class__.__name__}"
                break  # sent, maybe committed: never resent
            answer.status = status
            with contextlib.suppress(ValueError):
                answer.body = json.loads(data or b"{}")
            if status == 201:
                self.price = max(self.price, Decimal(answer.body["amount"]))
            answer.error = ""
            break
        answer.done = time.perf_counter()
        answer.latency = answer.done - scheduled
        self.answers.append(answer)

    async def follow(self, url: str, stop: asyncio.Event) -> None:
        """The clients watch the auction (channel ``auction:<id>``) as a bidder's page does: the price they
        bid on is the last one the feed or an answer showed them."""
        import redis.asyncio as aredis

        client = aredis.Redis.from_url(url)
        ps = client.pubsub(ignore_subscribe_messages=True)
        await ps.subscribe(f"auction:{self.listing_id}")
        while not stop.is_set():
            msg = await ps.get_message(timeout=0.2)
            if msg is not None:
                self.price = max(self.price, Decimal(json.loads(msg["data"])["data"]["price"]))
        await ps.aclose()
        await client.aclose()

    async def run(self, url: str, rate: float, seconds: float, faults: list[tuple[float, Any]]) -> float:
        stop = asyncio.Event()
        feed = asyncio.create_task(self.follow(url, stop))
        count = int(rate * seconds)
        t0 = time.perf_counter() + 0.2
        tasks = []
        pending = sorted(faults, key=lambda f: f[0])
        loop = asyncio.get_running_loop()
        for i in range(count):
            at = t0 + i / rate
            while pending and t0 + pending[0][0] <= at:
                _, fault = pending.pop(0)
                tasks.append(loop.run_in_executor(None, fault))  # a node restart blocks: off the loop
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.one(i, at)))
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=seconds + 120)
        stop.set()
        await feed
        for idle in self.idle:
            for conn in idle:
                conn.close()
        return max(a.done for a in self.answers) - t0  # to the last answer (not the node's restart)


# -- the floor: a bare serialized update on the same PostgreSQL -------------------------------------------


def pg_floor(url: str, n: int) -> list[float]:
    import psycopg

    dsn = re.sub(r"^postgresql\+\w+://", "postgresql://", url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_floor (id int PRIMARY KEY, price numeric(16,2), last_seq int)")
        conn.execute("INSERT INTO bench_floor VALUES (1, 0, 0)")
    times = []
    with psycopg.connect(dsn) as conn:
        for _ in range(n):
            t = time.perf_counter()
            row = conn.execute("SELECT price, last_seq FROM bench_floor WHERE id = 1 FOR UPDATE").fetchone()
            assert row is not None
            conn.execute(
                "UPDATE bench_floor SET price = %s, last_seq = %s WHERE id = 1", (row[0] + 1, row[1] + 1)
            )
            conn.commit()
            times.append(time.perf_counter() - t)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE bench_floor")
    return times


# -- after the run: nothing acknowledged is lost -----------------------------------------------------------


def check(world: World, answers: list[Answer]) -> dict[str, Any]:
    from sqlalchemy import select

    from app.auctions.models import AuctionBid, AuctionListing
    from app.core.db import db
    from app.core.models import AuditLeaf

    acked = [a.body for a in answers if a.status == 201]
    with world.app.app_context():
        listing = db.session.get(AuctionListing, world.listing_id)
        assert listing is not None
        bids = list(db.session.scalars(select(AuctionBid).where(AuctionBid.listing_id == listing.id)))
        by_seq = {b.seq: b for b in bids}
        leaves = {
            leaf.idx: leaf.action
            for leaf in db.session.scalars(
                select(AuditLeaf).where(AuditLeaf.idx.in_([b.leaf_idx for b in bids]))
            )
        }
        lost = 0
        for a in acked:
            b = by_seq.get(int(a["seq"]))
            if (
                b is None
                or f"{b.amount:.2f}" != a["amount"]
                or b.leaf_idx != a["leaf_idx"]
                or leaves.get(b.leaf_idx) != ACTION
            ):
                lost += 1
        seqs = sorted(by_seq)
        countdown = dt.timedelta(seconds=listing.countdown_seconds)
        timed = [b for b in sorted(bids, key=lambda b: b.seq) if b.phase == "timed"]
        bad_countdowns = sum(1 for b in timed if b.countdown_ends_at != b.placed_at + countdown)
        last_ok = bool(timed) and listing.countdown_ends_at == timed[-1].placed_at + countdown
        acked_seqs = {int(a["seq"]) for a in acked}
        out = {
            "acked": len(acked),
            "lost": lost,
            "gapless": seqs == list(range(1, len(seqs) + 1)) and listing.last_seq == len(seqs),
            "bids": len(seqs),
            "bad_countdowns": bad_countdowns,
            "last_countdown_ok": last_ok,
            "status": listing.status,
            "unanswered_committed": sum(1 for s in seqs if s > 2 and s not in acked_seqs),
            "without_leaf": sum(1 for b in bids if leaves.get(b.leaf_idx) != ACTION),
            "price": Decimal(listing.current_price),
        }
        db.session.remove()
    return out


# -- watchers ----------------------------------------------------------------------------------------------


def bid_now(port: int, listing_id: int, token: str, amount: Decimal) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "POST",
            f"/api/v1/auctions/listings/{listing_id}/bids",
            body=json.dumps({"amount": f"{amount:.2f}"}),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        resp = conn.getresponse()
        body: dict[str, Any] = json.loads(resp.read() or b"{}")
        if resp.status != 201:
            raise RuntimeError(f"watcher-phase bid refused: {resp.status} {body}")
        return body
    finally:
        conn.close()


async def send_bids(
    world: World, port: int, events: int, price: Decimal
) -> tuple[list[dict[str, Any]], Decimal]:
    """``events`` accepted bids, one every 0.5 s, alternating two bidders (never the current top)."""
    loop = asyncio.get_running_loop()
    placed = []
    for _ in range(events):
        price += INCREMENT
        world.turn += 1
        token = world.tokens[-1 - (world.turn % 2)]
        placed.append(await loop.run_in_executor(None, bid_now, port, world.listing_id, token, price))
        await asyncio.sleep(0.5)
    return placed, price


async def raw_watchers(
    url: str, world: World, port: int, n: int, events: int, price: Decimal
) -> tuple[dict[int, list[float]], list[dict[str, Any]], Decimal]:
    """N raw Redis subscribers on the auction's own channel; receive wall times per bid ``seq``."""
    import redis.asyncio as aredis

    client = aredis.Redis.from_url(url, max_connections=n + 10)
    subs = []
    for _ in range(n):
        ps = client.pubsub(ignore_subscribe_messages=True)
        await ps.subscribe(f"auction:{world.listing_id}")
        subs.append(ps)
    await asyncio.sleep(0.5)
    got: dict[int, list[float]] = {}

    async def listen(ps: Any) -> None:
        seen = 0
        while seen < events:
            msg = await ps.get_message(timeout=2.0)
            if msg is None:
                continue
            at = time.time()
            seq = int(json.loads(msg["data"])["data"]["seq"])
            got.setdefault(seq, []).append(at)
            seen += 1

    tasks = [asyncio.create_task(listen(ps)) for ps in subs]
    placed, price = await send_bids(world, port, events, price)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    for ps in subs:
        await ps.aclose()
    await client.aclose()
    return got, placed, price


async def sse_watcher(
    port: int, listing_id: int, cookie: str, want: int, got: dict[int, list[float]], ready: Any
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(
        (
            f"GET /auctions/{listing_id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
            "Accept: text/event-stream\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"stream refused: {status!r}")
    seen = 0
    last = b""
    while seen < want:
        line = await reader.readline()
        if not line:
            ENDS[f"closed after {seen} events: {last[:60]!r}"] = (
                ENDS.get(f"closed after {seen} events: {last[:60]!r}", 0) + 1
            )
            break
        if line.strip():
            last = line
        if line.startswith(b"retry:"):
            ready()
        if line.startswith(b"data: ") and b'"kind":"bid"' in line:
            at = time.time()
            got.setdefault(int(json.loads(line[6:])["leaf_idx"]), []).append(at)
            seen += 1
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


async def sse_watchers(
    stream_port: int, world: World, port: int, n: int, events: int, price: Decimal
) -> tuple[dict[int, list[float]], list[dict[str, Any]], int]:
    got: dict[int, list[float]] = {}
    connected = 0

    def ready() -> None:
        nonlocal connected
        connected += 1

    tasks = [
        asyncio.create_task(sse_watcher(stream_port, world.listing_id, world.cookie, events, got, ready))
        for _ in range(n)
    ]
    deadline = time.monotonic() + 120
    while connected < n and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # every stream has passed its handshake: registered with its hub
    placed, _price = await send_bids(world, port, events, price)
    # wait while deliveries progress (a loaded machine is slow, not wrong): give up after 30 s without one
    total, progress = -1, time.monotonic()
    while not all(t.done() for t in tasks) and time.monotonic() - progress < 30:
        now = sum(len(v) for v in got.values())
        if now != total:
            total, progress = now, time.monotonic()
        await asyncio.sleep(0.5)
    for t in tasks:
        t.cancel()
    return got, placed, connected


def delays(world: World, got: dict[int, list[float]], key: str, placed: list[dict[str, Any]]) -> list[float]:
    """Receive (wall clock) minus the bid's ``placed_at`` (demo clock → wall clock by the stored offset)."""
    from app.core import democlock

    with world.app.app_context():
        offset = democlock.current_offset().total_seconds()
    out: list[float] = []
    for p in placed:
        at = dt.datetime.fromisoformat(p["placed_at"]).timestamp() - offset
        out += [t - at for t in got.get(int(p[key]), [])]
    return out


def watch(
    url: str,
    env: dict[str, str],
    world: World,
    port: int,
    n: int,
    events: int,
    price: Decimal,
    children: list[subprocess.Popen[bytes]],
) -> tuple[list[float], list[float], int]:
    """The raw bus channel first (the baseline), then the stream service; delays from ``placed_at``."""
    got_raw, placed_raw, price = asyncio.run(raw_watchers(url, world, port, n, events, price))
    raw = delays(world, got_raw, "seq", placed_raw)
    stream_port = sse_bench._free_port()
    streams = [
        sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.streams.conf.py"),
        "--workers", "2", "--bind", f"127.0.0.1:{stream_port}", "--access-logfile", "/dev/null",
        "app.core.stream_service:create_asgi_app()",
    ]  # fmt: skip
    stream = subprocess.Popen(
        streams,
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    children.append(stream)
    for _ in range(100):
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", stream_port), timeout=0.2),
        ):
            break
        time.sleep(0.1)
    try:
        got_sse, placed_sse, connected = asyncio.run(sse_watchers(stream_port, world, port, n, events, price))
    finally:
        stream.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            stream.wait(30)
    print(
        "watchers: events per bid", [len(got_sse.get(int(p["leaf_idx"]), [])) for p in placed_sse], flush=True
    )
    return raw, delays(world, got_sse, "leaf_idx", placed_sse), connected


# -- main ----------------------------------------------------------------------------------------------------


def private_redis() -> str | None:
    """A redis-server of this run only (no persistence), on a free port; None without the binary."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = sse_bench._free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--maxclients", "20000"],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    _children.append(proc)
    for _ in range(50):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return f"redis://127.0.0.1:{port}/0"
        time.sleep(0.1)
    return None


def ms(x: float) -> float:
    return round(x * 1000, 1)


def server_times(access: Path, status: int) -> list[float]:
    """``%(L)s`` of the bid POSTs answered ``status`` (gunicorn.conf.py's format ends with ``<L>s``)."""
    out = []
    pattern = re.compile(rf'"POST /api/v1/auctions/listings/\d+/bids HTTP/1.1" {status} .* ([0-9.]+)s$')
    for line in access.read_text(errors="replace").splitlines():
        m = pattern.search(line)
        if m:
            out.append(float(m.group(1)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--bidders", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0, help="offered bids per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--watchers", type=int, default=5000)
    parser.add_argument("--events", type=int, default=5, help="bids sent to the watchers")
    parser.add_argument("--floor", type=int, default=2000, help="bare serialized transactions")
    parser.add_argument("--threads", type=int, default=16, help="gthread threads per worker")
    parser.add_argument("--no-node-restart", action="store_true")
    parser.add_argument("--abort", type=float, default=1200.0)
    args = parser.parse_args()
    sse_bench._raise_fd_limit()
    label = f"auction ({args.bidders:,} bidders, {args.rate:g} bids/s × {args.seconds:g} s)"
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    # Redis pub/sub is global to a server, whatever the database number: on a shared Redis every other job's
    # audit leaves (channel ``audit``) and auctions (``auction:<id>``) would reach this run's streams and
    # subscribers. A private redis-server when there is one.
    private = private_redis()
    if private is not None:
        url = private
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception as err:
        args.json.write_text(
            json.dumps([{"figure": label, "value": f"not measured: no Redis ({err})", "pass": False}])
        )
        return 1

    work = Path(tempfile.mkdtemp(prefix="auction-bench-"))
    drop_db: Any = None

    def abort() -> None:
        print(f"auction bench: aborted after {args.abort:.0f} s", file=sys.stderr, flush=True)
        for p in _children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
        if drop_db is not None:
            with contextlib.suppress(Exception):
                drop_db()
        shutil.rmtree(work, ignore_errors=True)
        os._exit(3)

    watchdog = threading.Timer(args.abort, abort)
    watchdog.daemon = True
    watchdog.start()
    nodes: list[Node] = []
    raw: list[float] = []
    sse: list[float] = []
    connected = 0
    watch_error = ""
    events: list[str] = []
    try:
        db_url, drop_db = surge_bench.create_database(
            os.environ.get("DATABASE_URL") or surge_bench.DEFAULT_PG
        )
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        n = args.watchers
        env = {
            **os.environ,
            "FLASK_APP": "app:create_app",
            "DATABASE_URL": db_url,
            "REDIS_URL": url,
            "BLOB_DIR": str(work / "blobs"),
            "SECRET_KEY": os.urandom(16).hex(),
            "DATA_KEY": "auction-bench-" + os.urandom(8).hex(),
            "PLATFORM_SIGNING_KEY": pem.decode(),
            "DEMO_CLOCK": "1",
            "LOG_LEVEL": "warning",
            "STREAMS_PER_IP": str(n + 10),
            "STREAMS_TOTAL": str(max(5000, n + 10)),
            "STREAMS_KEY_PREFIX": f"ggzy:auction-bench:{os.getpid()}",
        }
        (work / "instance").mkdir()
        t = time.perf_counter()
        world = seed(env, work / "instance", args.bidders)
        print(f"set-up: {args.bidders} qualified bidders ({time.perf_counter() - t:.0f} s)", flush=True)

        floor = pg_floor(db_url, args.floor)

        access = work / "access.log"
        nodes = [Node(env, work / f"node{i}.log", access, 2, args.threads) for i in range(2)]
        # the last two bidders stay out of the load: they bid alternately for the watchers afterwards
        load = Load([nd.port for nd in nodes], world.listing_id, world.tokens[:-2], world.price, 19)

        def kill_worker() -> None:
            pid = nodes[0].workers_pids()[0]
            os.kill(pid, signal.SIGKILL)
            events.append(f"worker {pid} of node A SIGKILLed")

        def restart_node() -> None:
            nodes[1].kill_node()
            t = time.perf_counter()
            nodes[1].start()
            events.append(f"node B SIGKILLed and back in {time.perf_counter() - t:.1f} s")

        faults: list[tuple[float, Any]] = [(0.4 * args.seconds, kill_worker)]
        if not args.no_node_restart:
            faults.append((0.65 * args.seconds, restart_node))
        span = asyncio.run(load.run(url, args.rate, args.seconds, faults))
        print(f"load done in {span:.1f} s: {'; '.join(events)}", flush=True)
        inv = check(world, load.answers)

        time.sleep(0.5)  # the access log is written after each answer: the load's lines are all there
        accepted_server = server_times(access, 201)
        refused_server = server_times(access, 422)
        try:
            raw, sse, connected = watch(
                url, env, world, nodes[0].port, n, args.events, inv["price"], _children
            )
        except Exception as err:  # the load's figures stand on their own
            watch_error = f"{err.__class__.__name__}: {err}"[:300]
        for nd in nodes:
            nd.stop()
    finally:
        watchdog.cancel()
        for p in _children:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
        if "world" in locals():
            from app.core.db import db as _db

            with world.app.app_context():
                _db.engine.dispose()
        if drop_db is not None:
            drop_db()
        shutil.rmtree(work, ignore_errors=True)

    answers = load.answers
    accepted = [a for a in answers if a.status == 201]
    clear = [a for a in answers if 400 <= a.status < 500 and a.body.get("code")]
    unclear = [a for a in answers if a.status and a.status != 201 and a not in clear]
    cut = [a for a in answers if a.status == 0]
    codes: dict[str, int] = {}
    for a in clear:
        codes[f"{a.status} {a.body['code']}"] = codes.get(f"{a.status} {a.body['code']}", 0) + 1
    pct = surge_bench.pct
    s50, s99 = pct(accepted_server, 50), pct(accepted_server, 99)
    c50, c99 = pct([a.latency for a in accepted], 50), pct([a.latency for a in accepted], 99)
    f50, f99 = pct(floor, 50), pct(floor, 99)
    rate = len(answers) / span
    offered = int(args.rate * args.seconds)

    def row(
        figure: str, value: Any, unit: str, baseline: Any, ratio: Any, bar: str, ok: bool | None
    ) -> dict[str, Any]:
        return surge_bench._row(label, figure, value, unit, baseline, ratio, bar, ok)

    expected = n * args.events
    sse_p95, raw_p95 = pct(sse, 95), pct(raw, 95)
    rows = [
        row(
            "accepted bid latency p99 (server, gunicorn %(L)s)",
            ms(s99),
            "ms",
            ms(f99),
            round(s99 / f99, 1) if f99 else None,
            "p99 < 100 ms; baseline: bare SELECT … FOR UPDATE; UPDATE; COMMIT p99, same PostgreSQL",
            s99 < BAR_P99,
        ),
        row(
            "accepted bid latency p50 (server, gunicorn %(L)s)",
            ms(s50),
            "ms",
            ms(f50),
            round(s50 / f50, 1) if f50 else None,
            "baseline: bare serialized transaction p50",
            None,
        ),
        row(
            "accepted bid latency p50 / p99 (client, from the scheduled send)",
            f"{ms(c50)} / {ms(c99)} ms",
            "",
            "",
            None,
            "open loop: includes waiting for a connection and a thread",
            None,
        ),
        row(
            "refused bid latency p50 / p99 (server)",
            f"{ms(pct(refused_server, 50))} / {ms(pct(refused_server, 99))} ms",
            "",
            "",
            None,
            "",
            None,
        ),
        row(
            "throughput (answered bids / run span)",
            round(rate, 1),
            "bids/s",
            f"offered {args.rate:g}/s; floor {1 / (sum(floor) / len(floor)):.0f} serialized txn/s",
            round(rate / args.rate, 3),
            f"answers keep up with the offered load ({load.peak} connections at peak)",
            rate >= 0.95 * args.rate,
        ),
        row(
            "every bid answered 201 or a clear 4xx with a code",
            f"{len(accepted)} accepted, {len(clear)} refused {codes}, {len(unclear)} unclear, "
            f"{len(cut)} cut by the kills",
            "",
            offered,
            None,
            "0 unclear (a bid in flight on a killed process has no answer: counted as cut)",
            not unclear and len(answers) == offered,
        ),
        row(
            "acknowledged bids lost after the kills",
            inv["lost"],
            "",
            f"{inv['acked']} acknowledged; {'; '.join(events) or 'no fault injected'}",
            None,
            "0: each 201's seq in auction_bid with its amount and audit leaf",
            inv["lost"] == 0 and inv["without_leaf"] == 0 and len(events) >= 1,
        ),
        row(
            "bid sequence and countdowns",
            f"{inv['bids']} bids, gapless {inv['gapless']}, {inv['bad_countdowns']} countdowns off, "
            f"listing countdown = last bid + countdown: {inv['last_countdown_ok']}; "
            f"{inv['unanswered_committed']} committed without an answer",
            "",
            "",
            None,
            "gapless; every countdown = placed_at + countdown_seconds exactly",
            inv["gapless"] and inv["bad_countdowns"] == 0 and inv["last_countdown_ok"],
        ),
        row(
            f"watcher delivery p95, {n:,} watchers (the listing's live stream, stream service, 2 processes)",
            ms(sse_p95),
            "ms",
            ms(raw_p95),
            round(sse_p95 / raw_p95, 2) if raw_p95 else None,
            "p95 < 1000 ms from placed_at; baseline: raw Redis subscribers on auction:<id>",
            sse_p95 < BAR_FANOUT and len(sse) == expected,
        ),
        row(
            "watcher events delivered",
            f"{len(sse)}/{expected} ({connected}/{n} connected), p50 {ms(pct(sse, 50))} ms"
            + (f"; streams ended early: {ENDS}" if ENDS else ""),
            "",
            f"raw Redis on auction:<id> {len(raw)}/{expected}, p50 {ms(pct(raw, 50))} ms",
            None,
            "all",
            len(sse) == expected and len(raw) == expected,
        ),
    ]
    if watch_error:
        rows[-2:] = [
            row(
                f"watcher delivery p95, {n:,} watchers",
                f"not measured: {watch_error}",
                "",
                "",
                None,
                "",
                False,
            )
        ]
    # the load's rows sit on the curve of offered bids (the listing's history grows with them), the
    # watchers' rows on the size's own (watchers)
    for r in rows:
        if "watcher" not in r["figure"]:
            r["size"], r["size_label"] = offered, f"{offered:,} bids ({args.rate:g}/s × {args.seconds:g} s)"
    print(json.dumps(inv, ensure_ascii=False, default=str))
    return surge_bench._report(rows, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
