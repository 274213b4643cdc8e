"""The documented production front keeps no address of an anonymous reporter and no one-time token: the
repository's nginx locations turn the access log off for the report routes (``POST /complaints/report``,
``POST /api/v1/complaints/reports``) and the one-time link routes, while every other request is logged as
nginx logs it. The test front (tests/front.py) runs the repository's configuration with nginx's default
access log, so the locations are what is tested."""

from __future__ import annotations

import http.client
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import front, servers

LOCATIONS = front.NGINX_DIR / "ggzy-locations.conf"
QUIET = ("/complaints/report", "/api/v1/complaints/reports", "/auth/link/x", "/experts/answer/x")


def _locations() -> list[tuple[str, str]]:
    """(pattern, body) of each location block."""
    text = LOCATIONS.read_text(encoding="utf-8")
    return re.findall(r"^location\s+(.+?)\s*\{(.*?)^\}", text, flags=re.M | re.S)


def _matching(path: str) -> str:
    """The body of the location nginx picks for ``path`` (exact, then regular expressions in order, then
    the prefix ``/``), as far as this file uses them."""
    blocks = _locations()
    for pattern, body in blocks:
        if pattern.startswith("= ") and pattern[2:].strip() == path:
            return body
    for pattern, body in blocks:
        if pattern.startswith("~ ") and re.search(pattern[2:].strip(), path):
            return body
    return next(body for pattern, body in blocks if pattern.strip() == "/")


def test_the_repository_config_logs_no_access_to_reports_or_one_time_links() -> None:
    for path in QUIET:
        assert re.search(r"^\s*access_log\s+off;", _matching(path), flags=re.M), path
    assert "access_log" not in _matching("/portal/")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[front.Front]:
    url = front.requirements()
    tmp = tmp_path_factory.mktemp("front-logs")
    env = servers.app_env(tmp)
    env.update(REDIS_URL=url, STREAMS_KEY_PREFIX=f"ggzy:test-front-logs:{secrets.token_hex(4)}")
    servers.seed(tmp, env, bidders=1)
    stack = front.Front(env, tmp, workers=1, threads=2)
    yield stack
    stack.stop()


def _request(port: int, method: str, path: str, body: bytes = b"", ctype: str = "") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": ctype} if ctype else {}
        conn.request(method, path, body=body or None, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def test_nginx_keeps_no_address_of_a_report_and_no_token(stack: front.Front) -> None:
    token = secrets.token_urlsafe(16)
    assert _request(stack.port, "GET", "/portal/") == 200
    _request(stack.port, "GET", "/complaints/report")
    _request(stack.port, "POST", "/complaints/report", b"matter=x", "application/x-www-form-urlencoded")
    _request(stack.port, "POST", "/api/v1/complaints/reports", b"{}", "application/json")
    _request(stack.port, "GET", f"/auth/link/{token}")
    _request(stack.port, "GET", f"/experts/answer/{token}")
    log = Path(stack.work / "nginx" / "logs" / "access.log")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "/portal/" not in log.read_text(encoding="utf-8"):
        time.sleep(0.1)
    lines = log.read_text(encoding="utf-8").splitlines()
    assert any("/portal/" in line and line.startswith("127.0.0.1") for line in lines)  # the log is on
    for line in lines:
        assert "complaints/report" not in line and token not in line, line


def test_gunicorns_access_log_shows_a_one_time_link_route_without_its_token() -> None:
    import datetime as dt
    import runpy
    from types import SimpleNamespace

    from gunicorn.config import Config

    conf = runpy.run_path(str(front.ROOT / "gunicorn.conf.py"))
    assert "%(f)s" not in conf["access_log_format"] and "%(h)s" not in conf["access_log_format"]
    logger = conf["logger_class"](Config())
    token = secrets.token_urlsafe(16)
    for path in (f"/auth/link/{token}", f"/experts/answer/{token}"):
        environ = {
            "REQUEST_METHOD": "GET",
            "RAW_URI": path,
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        resp = SimpleNamespace(status="200 OK", headers=[], sent=10, response_length=10)
        req = SimpleNamespace(headers=[])
        atoms = logger.atoms(resp, req, environ, dt.timedelta(seconds=0.01))
        line = conf["access_log_format"] % atoms
        assert token not in line and "<token>" in line, line


def test_the_stream_services_access_log_carries_no_client_address() -> None:
    import runpy

    conf = runpy.run_path(str(front.ROOT / "gunicorn.streams.conf.py"))
    fmt = conf.get("access_log_format", "")
    assert fmt and "%(h)s" not in fmt and "%(f)s" not in fmt
