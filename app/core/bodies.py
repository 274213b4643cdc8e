"""Request bodies: how large a body each route takes, and how long the server waits for it.

Nothing reads a body before the request guard (``app.core.web._guard``) has decided who is asking and
whether they may: the guard looks only at the request line, the headers and the session cookie. Then
``limit_body`` applies the route's limit:

- every route takes a body up to a declared size: ``@body_limit(n)`` on the view (bytes, or the name of a
  config key), else ``PUBLIC_MAX_CONTENT_LENGTH`` for public routes (sign-in, reports: small forms) and
  ``MAX_CONTENT_LENGTH`` for the others (forms and JSON of signed-in users);
- ``@body_limit(STREAMED)`` marks a view that reads the raw stream itself and enforces its own limit while
  streaming (a sealed envelope: the section's limit, known only once the section is loaded);
- a declared ``Content-Length`` above the limit is refused with 413 before a byte is read; a chunked body is
  cut at the limit by Werkzeug while it is read;
- reads are watched (``BODY_READ_TIMEOUT`` seconds of silence, and the whole body within
  ``BODY_TIMEOUT_BASE`` seconds plus its size at ``BODY_MIN_RATE`` bytes a second): a client that trickles a
  body gets 408 and frees the thread. Behind nginx (docs/deploy.md) form bodies are buffered by nginx and
  reach the application complete; the timeouts matter for the unbuffered upload locations and for a
  server without the front.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request
from flask_babel import gettext as _
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge, RequestTimeout

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")
T = TypeVar("T")

STREAMED = "streamed"
#: What a multipart form adds around its file: the other fields, boundaries and part headers.
FORM_OVERHEAD = 64 * 1024


def body_limit(limit: int | str) -> Callable[[F], F]:
    """Declare the largest body a view takes: bytes, a config key naming them, or :data:`STREAMED`."""

    def mark(view: F) -> F:
        view._body_limit = limit  # type: ignore[attr-defined]
        return view

    return mark


def declared_limit(target: Any) -> int | str | None:
    return getattr(target, "_body_limit", None)


def limit_for(target: Any, *, public: bool) -> int | None:
    """The byte limit of the view ``target`` (None: the view streams and enforces its own)."""
    declared = declared_limit(target)
    if declared == STREAMED:
        return None
    if isinstance(declared, int):
        return declared
    if isinstance(declared, str):
        return int(current_app.config[declared])
    key = "PUBLIC_MAX_CONTENT_LENGTH" if public else "MAX_CONTENT_LENGTH"
    return int(current_app.config[key])


def too_large(limit: int) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(
        _("The request body is larger than this page or API accepts (at most %(kib)d KiB).", kib=limit >> 10)
    )


def apply(target: Any, *, public: bool) -> None:
    """Set this request's body limit and timeouts; raise 413 when the declared length is over the limit."""
    limit = limit_for(target, public=public)
    request.max_content_length = limit
    length = request.content_length
    if limit is not None and length is not None and length > limit:
        raise too_large(limit)
    if length or request.headers.get("Transfer-Encoding"):
        # A chunked body is timed by the most it may carry; a streamed one without a length only by silence.
        _time_the_body(length if length is not None else limit)


class TimedInput:
    """``wsgi.input`` whose reads are watched: a read that waits more than ``idle`` seconds, or past the
    body's ``deadline``, is cut by the :class:`Watchdog` (it shuts the socket's reading side, so the blocked
    read returns) and the request ends with 408. The hot path costs one clock reading per read: the socket
    stays blocking (a socket timeout would add a poll() to every 8 KiB recv of a large upload)."""

    def __init__(self, raw: Any, sock: socket.socket | None, *, idle: float, deadline: float) -> None:
        self._raw = raw
        self.sock = sock
        self.idle = idle
        self.deadline = deadline
        self.reading_since: float | None = None
        self.cut = False

    @property
    def raw(self) -> Any:
        """The server's own ``wsgi.input`` this one watches."""
        return self._raw

    def watched(self, method: Callable[[R], T], arg: R) -> T:
        """``method(arg)``: one read of the body, watched like :meth:`read` (for readers that bypass it)."""
        if self.cut or time.monotonic() >= self.deadline:
            raise _slow()
        self.reading_since = time.monotonic()
        try:
            data = method(arg)
        except Exception:
            if self.cut:
                raise _slow() from None
            raise
        finally:
            self.reading_since = None
        if self.cut:
            raise _slow()
        return data

    def read(self, size: int = -1) -> bytes:
        return self.watched(self._raw.read, size)

    def readline(self, size: int = -1) -> bytes:
        return self.watched(self._raw.readline, size)

    def __iter__(self) -> TimedInput:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def overdue(self, now: float) -> bool:
        since = self.reading_since
        return since is not None and (now - since > self.idle or now >= self.deadline)


class Watchdog:
    """One thread per process that cuts reads waiting too long (bodies are held weakly: a finished request's
    body is simply forgotten)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bodies: weakref.WeakSet[TimedInput] = weakref.WeakSet()
        self._thread: threading.Thread | None = None

    def watch(self, body: TimedInput) -> None:
        with self._lock:
            self._bodies.add(body)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="body-watchdog", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(0.5)
            now = time.monotonic()
            with self._lock:
                overdue = [b for b in self._bodies if b.overdue(now)]
            for body in overdue:
                body.cut = True
                if body.sock is not None:
                    with contextlib.suppress(OSError):
                        body.sock.shutdown(socket.SHUT_RD)  # the blocked recv returns at once


watchdog = Watchdog()


def _slow() -> RequestTimeout:
    return RequestTimeout(_("The request body arrived too slowly; nothing was kept. Send it again."))


def _time_the_body(size: int | None) -> None:
    environ = request.environ
    raw = environ.get("wsgi.input")
    sock = environ.get("gunicorn.socket")
    config = current_app.config
    if raw is None or isinstance(raw, TimedInput) or float(config["BODY_READ_TIMEOUT"]) <= 0:
        return  # BODY_READ_TIMEOUT=0: no timeouts (a front that cuts slow bodies itself)
    rate = max(1, int(config["BODY_MIN_RATE"]))
    budget = float("inf") if size is None else float(config["BODY_TIMEOUT_BASE"]) + size / rate
    timed = TimedInput(
        raw,
        sock if isinstance(sock, socket.socket) else None,
        idle=float(config["BODY_READ_TIMEOUT"]),
        deadline=time.monotonic() + budget,
    )
    environ["wsgi.input"] = timed
    watchdog.watch(timed)


# -- reading a body of known length into the caller's buffers ---------------------------------------------


def length_readinto(length: int) -> Callable[[memoryview], int]:
    """``readinto(view)`` over this request's body of ``length`` bytes (its Content-Length): fills the
    start of ``view``, returns how many bytes it wrote, 0 at the end of the body. Reads stay watched by the
    body timeouts. Under gunicorn the bytes come straight from the client socket (``recv_into`` into the
    caller's buffer) once gunicorn's own read-ahead is used up: its body reader asks the socket for new
    ``bytes`` objects and copies each piece through two ``BytesIO`` buffers, which a large upload pays for
    on every byte. Elsewhere (another server, the test client) through ``wsgi.input``."""
    stream = request.environ.get("wsgi.input")
    timed = stream if isinstance(stream, TimedInput) else None
    raw = timed.raw if timed is not None else stream
    if raw is None:
        raise ValueError("no request body")
    direct = _GunicornBody.of(raw, length)
    method: Callable[[memoryview], int]
    if direct is not None:
        method = direct.readinto
    elif hasattr(raw, "readinto"):
        method = raw.readinto
    else:
        method = _copying(raw.read)
    left = length

    def readinto(view: memoryview) -> int:
        nonlocal left
        if left <= 0:
            return 0
        target = view[:left] if len(view) > left else view
        try:
            n = timed.watched(method, target) if timed is not None else method(target)
        except OSError as err:  # the client dropped the connection mid-body: a 400, not a server error
            raise ClientDisconnected() from err
        left -= n
        return n

    return readinto


def _copying(read: Callable[[int], bytes]) -> Callable[[memoryview], int]:
    def readinto(view: memoryview) -> int:
        data = read(len(view))
        view[: len(data)] = data
        return len(data)

    return readinto


class _GunicornBody:
    """The rest of a gunicorn request body of known length, read into the caller's buffers: first what
    gunicorn has already read ahead (its ``Body`` and socket buffers), then ``recv_into`` on the client
    socket, never past the end of the body (bytes of a next request on the connection stay with gunicorn).
    gunicorn's own counter of the body's remaining length is kept in step, so it sees a consumed body."""

    def __init__(self, reader: Any, held: bytes) -> None:
        self.reader = reader  # gunicorn.http.body.LengthReader
        self.sock: socket.socket = reader.unreader.sock
        self.held = memoryview(held)

    @classmethod
    def of(cls, raw: Any, length: int) -> _GunicornBody | None:
        try:
            from gunicorn.http.body import Body, LengthReader
            from gunicorn.http.unreader import SocketUnreader
        except ImportError:
            return None
        if not (isinstance(raw, Body) and isinstance(raw.reader, LengthReader)):
            return None
        reader = raw.reader
        unreader = reader.unreader
        if not (isinstance(unreader, SocketUnreader) and isinstance(unreader.buf, io.BytesIO)):
            return None
        held = raw.buf.getvalue()
        if len(held) + reader.length != length:
            return None  # not a body this code understands: gunicorn's reader reads it
        raw.buf = io.BytesIO()
        ahead = unreader.buf.getvalue()
        take = ahead[: reader.length]
        unreader.buf = io.BytesIO()
        unreader.buf.write(ahead[len(take) :])
        reader.length -= len(take)
        return cls(reader, held + take)

    def readinto(self, view: memoryview) -> int:
        if self.held:
            n = min(len(view), len(self.held))
            view[:n] = self.held[:n]
            self.held = self.held[n:]
            return n
        want = min(len(view), self.reader.length)
        if want <= 0:
            return 0
        n = self.sock.recv_into(view, want)
        self.reader.length -= n
        return n
