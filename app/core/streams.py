"""Live event streams (Server-Sent Events): the opening hall, the supervision stream and the auctions.

A stream lasts minutes; a gthread worker thread serving one is a thread no request can use (4 workers × 4
threads were stopped by 20 anonymous hall subscribers). So streams are served where they cost no thread:

- **Production** (docs/deploy.md, deploy/nginx/): nginx sends the stream paths to the *stream service*
  (``app/core/stream_service.py``, gunicorn's asyncio ``asgi`` worker, ``gunicorn.streams.conf.py``). It runs
  the same Flask views for the opening handshake only — authentication, the access guard, the 404s, the
  caps below, the replay of missed leaves — in a small thread pool, gets back a :class:`Plan` instead of a
  body, and then keeps the connection on its event loop, fed by one Redis pub/sub subscription per process.
  Thousands of idle subscribers cost a few kilobytes each and no thread.
- **Embedded default** (``make run``, no nginx, no Redis): the worker serves the stream itself, but at most
  ``STREAMS_PER_WORKER`` at a time (the other threads stay free for requests); beyond that 503.

Every stream is admitted against caps shared by all workers and nodes (Redis; in-process without Redis):
at most ``STREAMS_PER_IP`` open streams per client address (beyond: 429) and ``STREAMS_TOTAL`` overall
(beyond: 503), each with ``Retry-After``. An admission is a lease that ends with the stream or, if its
process died, after the stream's longest life.
"""

from __future__ import annotations

import fnmatch
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Response, current_app, request, stream_with_context
from flask_babel import gettext as _
from werkzeug.exceptions import ServiceUnavailable, TooManyRequests

from app.core.events import Event

log = logging.getLogger(__name__)

#: The bus channels streams may follow; the stream service subscribes to exactly these patterns.
CHANNEL_PATTERNS = ("audit", "opening:*", "auction:*")
#: Set in the WSGI environ by the stream service when it runs a view for the opening handshake.
SERVICE_KEY = "ggzy.stream_service"
PLAN_KEY = "ggzy.stream_plan"
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


@dataclass
class Plan:
    """What the stream service does after the handshake: send ``prelude``, then every event on
    ``channels`` that ``format`` turns into text, a comment every ``keepalive`` seconds, and ``closing``
    after ``seconds``."""

    channels: tuple[str, ...]
    prelude: str
    format: Callable[[Event], str | None]
    seconds: float
    keepalive: float = 15.0
    closing: str = ""
    lease: Lease | None = None


# -- admission: per-address and total caps, shared -------------------------------------------------------


class Refused(Exception):
    pass


@dataclass
class Lease:
    id: str
    ip: str
    store: Any = field(repr=False, compare=False)

    def release(self) -> None:
        try:
            self.store.release(self)
        except Exception as err:  # the lease expires by itself
            log.warning("stream lease release failed (%s)", err)


class LocalLeases:
    """Leases in this process (no Redis)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, tuple[str, float]] = {}

    def admit(self, ip: str, ttl: float, per_ip: int, total: int) -> Lease | str:
        now = time.monotonic()
        with self._lock:
            for key, (_ip, until) in list(self._by_id.items()):
                if until <= now:
                    del self._by_id[key]
            if sum(1 for a, _u in self._by_id.values() if a == ip) >= per_ip:
                return "ip"
            if len(self._by_id) >= total:
                return "total"
            lease = Lease(secrets.token_hex(8), ip, self)
            self._by_id[lease.id] = (ip, now + ttl)
            return lease

    def release(self, lease: Lease) -> None:
        with self._lock:
            self._by_id.pop(lease.id, None)


ADMIT = """
local now, expires, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 2 end
redis.call('ZADD', KEYS[1], expires, id)
redis.call('ZADD', KEYS[2], expires, id)
redis.call('EXPIRE', KEYS[1], math.ceil(expires - now) + 1)
redis.call('EXPIRE', KEYS[2], math.ceil(expires - now) + 1)
return 0
"""


class RedisLeases:
    """Leases in Redis sorted sets (member = lease, score = expiry): every worker of every node counts
    the same streams. Redis down: this process's own count, until it is back."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._prefix = prefix
        self._client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        self._admit = self._client.register_script(ADMIT)
        self.fallback = LocalLeases()

    def _keys(self, ip: str) -> list[str]:
        return [f"{self._prefix}:ip:{ip}", f"{self._prefix}:all"]

    def admit(self, ip: str, ttl: float, per_ip: int, total: int) -> Lease | str:
        lease = Lease(secrets.token_hex(8), ip, self)
        now = time.time()
        try:
            verdict = int(self._admit(keys=self._keys(ip), args=[now, now + ttl, lease.id, per_ip, total]))
        except Exception as err:
            log.warning("stream caps: Redis unavailable (%s); counting in this process", err)
            return self.fallback.admit(ip, ttl, per_ip, total)
        if verdict == 0:
            return lease
        return "ip" if verdict == 1 else "total"

    def release(self, lease: Lease) -> None:
        pipe = self._client.pipeline(transaction=False)
        for key in self._keys(lease.ip):
            pipe.zrem(key, lease.id)
        pipe.execute()


_stores: dict[tuple[str, str], LocalLeases | RedisLeases] = {}
_stores_lock = threading.Lock()


def leases() -> LocalLeases | RedisLeases:
    url = current_app.config.get("REDIS_URL") or ""
    prefix = str(current_app.config["STREAMS_KEY_PREFIX"])
    with _stores_lock:
        if (url, prefix) not in _stores:
            _stores[(url, prefix)] = RedisLeases(url, prefix) if url else LocalLeases()
        return _stores[(url, prefix)]


def _retry_after(
    err: TooManyRequests | ServiceUnavailable, seconds: int
) -> TooManyRequests | ServiceUnavailable:
    err.retry_after = seconds
    return err


def admit(seconds: float) -> Lease:
    """Admit one stream of at most ``seconds`` for the client address, or refuse it (429 / 503)."""
    config = current_app.config
    ip = request.remote_addr or "unknown"
    verdict = leases().admit(ip, seconds + 60, int(config["STREAMS_PER_IP"]), int(config["STREAMS_TOTAL"]))
    if verdict == "ip":
        raise _retry_after(
            TooManyRequests(
                _(
                    "Too many live connections from your address (at most %(n)d); close one or retry later.",
                    n=int(config["STREAMS_PER_IP"]),
                )
            ),
            30,
        )
    if verdict == "total":
        raise _retry_after(
            ServiceUnavailable(_("The live service is full at the moment; the page retries by itself.")), 30
        )
    assert isinstance(verdict, Lease)
    return verdict


# -- the worker's own threads (embedded default) ---------------------------------------------------------


class _WorkerSlots:
    """At most ``STREAMS_PER_WORKER`` streams on this process's threads; a slot not given back (a client
    that never read its response) expires with the stream's longest life."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def take(self, most: int, ttl: float) -> str | None:
        now = time.monotonic()
        with self._lock:
            for key, until in list(self._until.items()):
                if until <= now:
                    del self._until[key]
            if len(self._until) >= most:
                return None
            slot = secrets.token_hex(8)
            self._until[slot] = now + ttl
            return slot

    def give_back(self, slot: str) -> None:
        with self._lock:
            self._until.pop(slot, None)


worker_slots = _WorkerSlots()


def in_stream_service() -> bool:
    return bool(request.environ.get(SERVICE_KEY))


def respond(*, seconds: float, plan: Callable[[Lease], Plan], body: Callable[[], Iterator[str]]) -> Response:
    """Answer a stream request: admitted against the caps, then either handed to the stream service as a
    :class:`Plan` (built by ``plan``) or, in a worker of the embedded default, served from ``body`` on one
    of its ``STREAMS_PER_WORKER`` stream slots."""
    lease = admit(seconds)
    if in_stream_service():
        try:
            chosen = plan(lease)
        except BaseException:
            lease.release()
            raise
        for channel in chosen.channels:
            if not any(fnmatch.fnmatchcase(channel, p) for p in CHANNEL_PATTERNS):
                lease.release()
                raise RuntimeError(f"stream channel {channel!r} is not in streams.CHANNEL_PATTERNS")
        chosen.lease = lease
        request.environ[PLAN_KEY] = chosen
        return Response(chosen.prelude, mimetype="text/event-stream", headers=HEADERS)
    slot = worker_slots.take(int(current_app.config["STREAMS_PER_WORKER"]), seconds + 60)
    if slot is None:
        lease.release()
        raise _retry_after(
            ServiceUnavailable(_("The live service is full at the moment; the page retries by itself.")), 30
        )

    def release() -> None:
        worker_slots.give_back(slot)
        lease.release()

    def guarded() -> Iterator[str]:
        try:
            yield from body()
        finally:
            release()

    resp = Response(stream_with_context(guarded()), mimetype="text/event-stream", headers=HEADERS)
    resp.call_on_close(release)  # also when the body is never iterated
    return resp
