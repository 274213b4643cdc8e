"""The stream service: Server-Sent Events on an asyncio event loop, so that live subscribers never hold
the threads that serve requests (``app/core/streams.py`` says why and how it fits).

    gunicorn -c gunicorn.streams.conf.py 'app.core.stream_service:create_asgi_app()'

One process (gunicorn's ``asgi`` worker) holds thousands of streams. For each one it:

1. answers only ``GET``/``HEAD`` of the stream paths (and ``/api/v1/health``), with no request body;
2. notes its place in the event sequence, then runs the Flask app for the *handshake* in a small thread
   pool — the same view, access guard, caps and replay as anywhere — and gets back either an ordinary
   answer (401, 404, 429, 503…, relayed as is) or a :class:`~app.core.streams.Plan`;
3. sends the plan's prelude, then the events that arrived since its place in the sequence and every later
   one on the plan's channels, a keep-alive comment when nothing happened, and the closing text when the
   stream's time is up; a subscriber too slow to take its events is disconnected (EventSource reconnects
   and replays from the audit log).

Events come from one Redis pub/sub connection per process (``PSUBSCRIBE`` on
:data:`~app.core.streams.CHANNEL_PATTERNS`), kept in a short ring buffer for step 3. Redis is required: the
events are published by the request workers, other processes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import json
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask

from app.core import streams
from app.core.events import Event

log = logging.getLogger("app.streams")

PATHS = re.compile(r"^/(supervision/stream|bidding/sections/[0-9]+/events|auctions/[0-9]+/events)$")
HEALTH = "/api/v1/health"
RECENT = 20_000  # events kept for subscribers whose handshake was under way
QUEUE = 1_000  # events waiting for one subscriber before it is cut off as too slow
KEEPALIVE = b": keep-alive\n\n"
TEXT = "text/plain; charset=utf-8"

Scope = dict[str, Any]


class Hub:
    """One pattern subscription per process, fanned out to the streams of this process."""

    def __init__(self, url: str, patterns: tuple[str, ...]) -> None:
        self.url = url
        self.patterns = patterns
        self.seq = 0
        self.recent: collections.deque[tuple[int, Event]] = collections.deque(maxlen=RECENT)
        self.subscribers: dict[str, set[asyncio.Queue[Event | None]]] = {}
        self.connected = asyncio.Event()

    async def run(self) -> None:
        import redis.asyncio as aredis

        backoff = 0.5
        while True:
            client = aredis.Redis.from_url(self.url, socket_connect_timeout=2)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(*self.patterns)
                self.connected.set()
                backoff = 0.5
                log.info("stream service subscribed to %s", ", ".join(self.patterns))
                while True:
                    msg = await pubsub.get_message(timeout=5.0)
                    if msg is not None:
                        self._deliver(msg)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # Redis down: streams stay open on keep-alives, new events wait
                self.connected.clear()
                log.warning("stream service lost Redis (%s); retrying in %.1f s", err, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                with contextlib.suppress(Exception):
                    for closable in (pubsub, client):  # aclose(): redis ≥ 5 (the stubs predate it)
                        await getattr(closable, "aclose")()  # noqa: B009

    def _deliver(self, msg: dict[str, Any]) -> None:
        channel = msg["channel"].decode() if isinstance(msg["channel"], bytes) else str(msg["channel"])
        try:
            body = json.loads(msg["data"])
            ev = Event(channel, body["data"], body.get("id"))
        except (ValueError, KeyError, TypeError):
            return
        self.seq += 1
        self.recent.append((self.seq, ev))
        for queue in list(self.subscribers.get(channel, ())):
            try:
                queue.put_nowait(ev)
            except asyncio.QueueFull:  # too slow: end its stream (it reconnects and replays)
                self.unregister(queue)
                with contextlib.suppress(asyncio.QueueFull):
                    queue.get_nowait()
                    queue.put_nowait(None)

    def register(self, channels: tuple[str, ...], *, after: int) -> asyncio.Queue[Event | None]:
        """A queue of the events on ``channels`` with a sequence number above ``after``, then live ones."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=QUEUE)
        wanted = set(channels)
        for seq, ev in self.recent:
            if seq > after and ev.channel in wanted and not queue.full():
                queue.put_nowait(ev)
        for channel in channels:
            self.subscribers.setdefault(channel, set()).add(queue)
        return queue

    def unregister(self, queue: asyncio.Queue[Event | None]) -> None:
        for channel, subs in list(self.subscribers.items()):
            subs.discard(queue)
            if not subs:
                del self.subscribers[channel]


class StreamService:
    """The ASGI application."""

    def __init__(self, flask_app: Flask) -> None:
        self.flask = flask_app
        url = flask_app.config.get("REDIS_URL")
        if not url:
            raise RuntimeError("the stream service needs REDIS_URL: events are published by other processes")
        self.hub = Hub(url, streams.CHANNEL_PATTERNS)
        threads = int(flask_app.config.get("STREAM_HANDSHAKE_THREADS") or 8)
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="stream-handshake")
        self.hub_task: asyncio.Task[None] | None = None
        self.open_streams = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.hub_task = asyncio.get_running_loop().create_task(self.hub.run())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.hub_task is not None:
                    self.hub_task.cancel()
                self.pool.shutdown(wait=False, cancel_futures=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- one request ---------------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Any, send: Any) -> None:
        if self.hub_task is None:  # no lifespan support in the server: start the subscription now
            self.hub_task = asyncio.get_running_loop().create_task(self.hub.run())
        path = scope.get("path", "")
        if path == HEALTH:
            await _plain(send, 200, b'{"status":"ok"}', "application/json")
            return
        if scope.get("method") not in ("GET", "HEAD") or not PATHS.match(path):
            await _plain(send, 404, b"Not a stream.\n")
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers:
            await _plain(send, 413, b"A stream request carries no body.\n")
            return
        mark = self.hub.seq
        loop = asyncio.get_running_loop()
        status, response_headers, body, plan = await loop.run_in_executor(
            self.pool, self._handshake, _environ(scope, headers)
        )
        if plan is None:
            await send({"type": "http.response.start", "status": status, "headers": response_headers})
            await send({"type": "http.response.body", "body": body})
            return
        self.open_streams += 1
        try:
            head_only = scope.get("method") == "HEAD"
            await self._serve(plan, mark, status, response_headers, receive, send, head_only)
        finally:
            self.open_streams -= 1
            if plan.lease is not None:
                try:
                    await loop.run_in_executor(self.pool, plan.lease.release)
                except RuntimeError:  # shutting down: the pool is gone, release here
                    plan.lease.release()

    def _handshake(self, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes, Any]:
        """Run the Flask app for the opening of the stream (in a pool thread): its answer, and the plan."""
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = int(status.split(" ", 1)[0])
            captured["headers"] = headers
            return lambda _data: None

        result = self.flask(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        plan = environ.get(streams.PLAN_KEY)
        drop = {"content-length", "connection", "transfer-encoding"} if plan is not None else set()
        headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in captured["headers"]
            if k.lower() not in drop
        ]
        return captured["status"], headers, body, plan

    async def _serve(
        self,
        plan: streams.Plan,
        mark: int,
        status: int,
        headers: list[tuple[bytes, bytes]],
        receive: Any,
        send: Any,
        head_only: bool,
    ) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if head_only:
            await send({"type": "http.response.body", "body": b""})
            return
        gone = asyncio.Event()

        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone.set()
                    return

        watcher = asyncio.get_running_loop().create_task(watch())
        queue = self.hub.register(plan.channels, after=mark)
        deadline = time.monotonic() + plan.seconds
        try:
            await send({"type": "http.response.body", "body": plan.prelude.encode(), "more_body": True})
            last_write = time.monotonic()
            while not gone.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                wait = min(left, max(0.0, plan.keepalive - (time.monotonic() - last_write)))
                try:
                    ev = await asyncio.wait_for(queue.get(), timeout=wait)
                except TimeoutError:
                    if time.monotonic() - last_write >= plan.keepalive:
                        await send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})
                        last_write = time.monotonic()
                    continue
                if ev is None:  # cut off as too slow
                    return
                text = plan.format(ev)
                if text:
                    await send({"type": "http.response.body", "body": text.encode(), "more_body": True})
                    last_write = time.monotonic()
            if not gone.is_set():
                await send({"type": "http.response.body", "body": plan.closing.encode(), "more_body": False})
        except OSError:  # the client went away while we wrote
            return
        finally:
            self.hub.unregister(queue)
            watcher.cancel()


async def _plain(send: Any, status: int, body: bytes, content_type: str = TEXT) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _environ(scope: Scope, headers: dict[str, str]) -> dict[str, Any]:
    """The WSGI environ of the handshake: the request line and headers; no body."""
    server = scope.get("server") or ("127.0.0.1", 80)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": scope.get("path", "").encode().decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        streams.SERVICE_KEY: True,
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            environ[f"HTTP_{key}"] = value
    return environ


def create_asgi_app(config: dict[str, Any] | None = None) -> StreamService:
    from app import create_app

    return StreamService(create_app(config))
