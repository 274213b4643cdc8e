"""Attempt limits and single-use codes hold across workers: a real gunicorn with two workers, on the engine of
this run (PostgreSQL when DATABASE_URL is set, else SQLite)."""

from __future__ import annotations

import base64
import datetime as dt
import http.cookiejar
import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.accounts import totp
from tests.servers import Gunicorn, app_env, seed

STAFF, STAFF_PASSWORD = "staff", "bench-staffstaffstaff"  # bench/upload_bench.py names its users so


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp: Path = tmp_path_factory.mktemp("concurrency")
    drop = None
    url = None
    if os.environ.get("DATABASE_URL"):
        from app.config import load_config
        from tests.conftest import _fresh_postgres_database

        url, drop = _fresh_postgres_database(load_config(str(tmp))["SQLALCHEMY_DATABASE_URI"], "_race")
    env = app_env(tmp, database_url=url)
    info = seed(tmp, env, custodians=True)
    gunicorn = Gunicorn(env, "app:create_app()", workers=2, worker_class="gthread")
    try:
        yield {"base": f"http://127.0.0.1:{gunicorn.port}", "info": info}
    finally:
        gunicorn.stop()
        if drop is not None:
            drop()


class Browser:
    """A cookie-keeping client that does not follow redirects (the status says what happened)."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    def __init__(self, base: str, address: str = "127.0.0.1") -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), self._NoRedirect()
        )

    def request(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, data=body, timeout=60) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def csrf(self, path: str) -> str:
        status, page = self.request(path)
        match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
        assert match, (path, status)
        return match.group(1)

    def password(self, username: str, password: str) -> int:
        token = self.csrf("/auth/login")
        return self.request("/auth/login", {"username": username, "password": password, "csrf_token": token})[
            0
        ]


def test_one_code_is_accepted_once_however_many_sessions_race_with_it(server: dict[str, Any]) -> None:
    """ASVS 6.5.1 under concurrency: eight sessions at the second step send the same code at the same instant
    to two workers; exactly one gets in."""
    browsers = [Browser(server["base"]) for _ in range(8)]
    tokens = []
    for b in browsers:
        assert b.password(STAFF, STAFF_PASSWORD) == 302
        tokens.append(b.csrf("/auth/mfa"))
    secret = base64.b64decode(server["info"]["custodians"]["center_staff"]["totp_secret"])
    code = totp.code_at(secret, dt.datetime.now(dt.UTC))
    gate = threading.Barrier(len(browsers))
    results: list[int] = []

    def send(b: Browser, token: str) -> None:
        gate.wait()
        results.append(b.request("/auth/mfa", {"code": code, "csrf_token": token})[0])

    threads = [threading.Thread(target=send, args=(b, t)) for b, t in zip(browsers, tokens, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 8 and results.count(302) == 1
    assert set(results) - {302} <= {401, 429}  # refused (and, past five, throttled: they count as failures)


def test_wrong_passwords_are_counted_once_across_workers(server: dict[str, Any]) -> None:
    """Twenty wrong passwords spread over two workers: after the fifth, this name from this address waits —
    the count is in the database, not in each worker."""
    browser = Browser(server["base"])
    statuses = [browser.password("tenderer", f"wrong guess {n}") for n in range(20)]
    assert statuses[:6] == [401] * 6
    assert statuses[6:] == [429] * 14
    assert browser.password("tenderer", "bench-tenderertenderertenderer") == 429
