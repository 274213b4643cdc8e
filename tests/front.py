"""The documented production front on one machine, loopback only: nginx with the repository's
configuration (deploy/nginx/ggzy-http.conf and ggzy-locations.conf) in front of the request workers
(gunicorn.conf.py) and the stream service (gunicorn.streams.conf.py), with Redis. nginx keeps nginx's
default access log (``nginx/logs/access.log``, with client addresses) so that what the repository's
locations turn off is what is tested. Used by
tests/test_abuse.py and bench/abuse_bench.py; every process is started here and stopped by its own id."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
NGINX_DIR = ROOT / "deploy" / "nginx"


def nginx_binary() -> str | None:
    for candidate in ("/usr/sbin/nginx", shutil.which("nginx")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def requirements() -> str:
    """What a test behind the production front needs: nginx (``make test`` installs it, so its absence is a
    failure with the command to run, never a skip) and a reachable Redis (an optional service: the stream
    service needs it, so without one the test is skipped with that reason). Returns the Redis URL."""
    import pytest

    if nginx_binary() is None:
        pytest.fail(
            "nginx is not installed: run `make test` (it installs it) or `bash scripts/test-system-deps.sh`"
        )
    url = redis_url()
    if url is None:
        pytest.skip("no Redis reachable at REDIS_URL or 127.0.0.1:6379: the stream service needs it")
    return url


def redis_url() -> str | None:
    """A reachable Redis (REDIS_URL, else the local default), or None."""
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:
        return None
    return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(port: int, path: str, *, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request("GET", path)
                if conn.getresponse().status == 200:
                    return
            finally:
                conn.close()
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"nothing answers {path} on port {port}")


def _raise_fd_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 65536 <= hard or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))


class Front:
    """nginx → gunicorn (gthread request workers) + stream service, on free loopback ports."""

    def __init__(
        self, env: dict[str, str], work: Path, *, workers: int = 2, threads: int = 4, log: Path | None = None
    ) -> None:
        _raise_fd_limit()
        self.work = work
        self.log = log or work
        self.app_port, self.streams_port, self.port = free_port(), free_port(), free_port()
        self.env = {
            **env,
            "PROXY_HOPS": "1",
            "BIND": f"127.0.0.1:{self.app_port}",
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_THREADS": str(threads),
            "STREAMS_BIND": f"127.0.0.1:{self.streams_port}",
            "LOG_LEVEL": "warning",
            "STREAMS_ACCESS_LOG": "/dev/null",
        }
        self.procs: list[subprocess.Popen[bytes]] = []
        try:
            self.app = self._spawn(
                [PY, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--access-logfile", "/dev/null",
                 "app:create_app()"],
                "app",
            )  # fmt: skip
            self.streams = self._spawn(
                [PY, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.streams.conf.py"),
                 "app.core.stream_service:create_asgi_app()"],
                "streams",
            )  # fmt: skip
            wait_http(self.app_port, "/api/v1/health")
            wait_http(self.streams_port, "/api/v1/health")
            self.nginx = self._start_nginx()
            wait_http(self.port, "/api/v1/health")
        except BaseException:
            self.stop()
            raise

    def _spawn(self, argv: list[str], name: str) -> subprocess.Popen[bytes]:
        out = open(self.log / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        self.procs.append(proc)
        return proc

    def _start_nginx(self) -> subprocess.Popen[bytes]:
        binary = nginx_binary()
        assert binary, "nginx is not installed"
        prefix = self.work / "nginx"
        for sub in ("", "body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        # Started as root, nginx would run its workers as nobody, who cannot reach a private temp folder.
        user = "user root;" if os.geteuid() == 0 else ""
        conf = prefix / "nginx.conf"
        conf.write_text(
            f"""
{user}
worker_processes 1;
worker_rlimit_nofile 65536;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 16384; }}
http {{
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    default_type application/octet-stream;
    include {NGINX_DIR / "ggzy-http.conf"};
    upstream ggzy_app {{ server 127.0.0.1:{self.app_port}; keepalive 32; }}
    upstream ggzy_streams {{ server 127.0.0.1:{self.streams_port}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{self.port};
        server_name localhost;
        include {NGINX_DIR / "ggzy-locations.conf"};
    }}
}}
"""
        )
        checked = subprocess.run(
            [binary, "-t", "-p", str(prefix), "-c", str(conf)], capture_output=True, text=True, timeout=30
        )
        assert checked.returncode == 0, checked.stderr
        return self._spawn([binary, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"], "nginx")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:  # nginx: QUIT is its graceful stop; gunicorn: TERM
                proc.send_signal(signal.SIGQUIT if proc is getattr(self, "nginx", None) else signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
