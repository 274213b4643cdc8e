"""Live streams do not take the threads that serve requests (issue 14; app/core/streams.py):

- a gthread worker of the embedded default (no stream service) serves at most STREAMS_PER_WORKER streams and
  answers 503 with Retry-After beyond them, while the portal keeps answering — before, four anonymous hall
  subscribers took all four threads of the worker and the portal never answered;
- the stream service (gunicorn's asyncio worker) runs the real views for the handshake: anonymous callers of
  the supervision stream get the guard's 401, a regulator gets the missed leaves replayed and then live
  ones, unknown paths and bodies are refused;
- (tests/supervision/test_stream.py: the per-address and total caps with their 429 and 503.)"""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import front, servers


def _open_stream(port: int, path: str, cookie: str = "") -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    extra = f"Cookie: {cookie}\r\n" if cookie else ""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Accept: text/event-stream\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    return sock, data


def _read_until(sock: socket.socket, data: bytes, needle: bytes) -> bytes:
    while needle not in data:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    return data


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("streams")
    (tmp / "instance").mkdir()
    env = servers.app_env(tmp)
    env.pop("REDIS_URL", None)
    info = servers.seed(tmp, env)
    return tmp, env, info


def test_a_worker_keeps_its_threads_for_requests(seeded: tuple[Path, dict[str, str], dict[str, Any]]) -> None:
    _tmp, env, info = seeded
    server = servers.Gunicorn(
        {**env, "STREAMS_PER_WORKER": "2", "BIDDING_SSE_SECONDS": "5"},  # streams end soon after the test
        "app:create_app()",
        workers=1,
        worker_class="gthread",
        threads=4,
    )
    try:
        hall = f"/bidding/sections/{info['section_id']}/events"
        opened = [_open_stream(server.port, hall) for _ in range(6)]
        statuses = [int(head.split(b" ", 2)[1]) for _sock, head in opened]
        assert statuses.count(200) == 2 and statuses.count(503) == 4, statuses
        refused = next(head for _sock, head in opened if b" 503 " in head)
        assert b"Retry-After: 30" in refused
        for _ in range(5):  # the worker still answers requests while two streams are open
            status, _h, _b = servers.http_request(server.port, "GET", "/portal/", timeout=60)
            assert status == 200
        for sock, _head in opened:
            sock.close()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def stream_service(
    seeded: tuple[Path, dict[str, str], dict[str, Any]],
) -> Iterator[tuple[int, dict[str, str], dict[str, Any]]]:
    url = front.redis_url()
    if url is None:
        pytest.skip("no Redis reachable at REDIS_URL or 127.0.0.1:6379: the stream service needs it")
    tmp, env, info = seeded
    port = servers.free_port()
    env = {**env, "REDIS_URL": url, "STREAMS_KEY_PREFIX": f"ggzy:test-streams:{secrets.token_hex(4)}"}
    log = open(tmp / "streams.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [servers.PY, "-m", "gunicorn", "-c", str(servers.ROOT / "gunicorn.streams.conf.py"),
         "-b", f"127.0.0.1:{port}", "app.core.stream_service:create_asgi_app()"],
        cwd=servers.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        front.wait_http(port, "/api/v1/health")
        yield port, env, info
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_the_stream_service_runs_the_real_views(
    stream_service: tuple[int, dict[str, str], dict[str, Any]],
) -> None:
    port, env, info = stream_service
    status, headers, _body = servers.http_request(port, "GET", "/supervision/stream")
    assert status == 302 and "/auth/login" in headers["location"]  # the access guard of the view, relayed
    assert servers.http_request(port, "GET", "/portal/")[0] == 404  # only stream paths are served here
    assert servers.http_request(port, "POST", f"/bidding/sections/{info['section_id']}/events")[0] == 404
    with_body = servers.http_request(
        port, "GET", f"/bidding/sections/{info['section_id']}/events", body=b"x" * 10
    )
    assert with_body[0] == 413
    assert servers.http_request(port, "GET", "/bidding/sections/999999/events")[0] == 404

    cookie = servers.session_cookie(env, "regulator", "regulator", "watcher")
    marker = f"stream:test:{secrets.token_hex(4)}"
    script = (
        "import sys\nfrom app import create_app\nfrom app.core import audit\nfrom app.core.db import db\n"
        "app = create_app()\nwith app.app_context():\n"
        "    leaf = audit.record(sys.argv[1], payload={})\n    db.session.commit()\n    print(leaf.idx)\n"
    )

    def record(action: str) -> int:
        out = subprocess.run(
            [servers.PY, "-c", script, action], cwd=servers.ROOT, env=env, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        return int(out.stdout.split()[-1])

    before = record(f"{marker}:missed")
    sock, head = _open_stream(port, f"/supervision/stream?last_id={before - 1}&type={marker}", cookie)
    assert b" 200 " in head and b"text/event-stream" in head
    data = _read_until(sock, head, f"{marker}:missed".encode())  # replayed from the audit log
    time.sleep(0.5)
    live = record(f"{marker}:live")
    data = _read_until(sock, data, f"{marker}:live".encode())  # then live, through Redis
    sock.close()
    ids = [int(line[4:]) for line in data.decode().splitlines() if line.startswith("id: ")]
    assert ids == [before, live]
