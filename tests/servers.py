"""Real servers for the crash and fault tests: a gunicorn on a throwaway database, a seeded section with
bidders (and, when asked, custodians with API tokens and TOTP), a private PostgreSQL cluster. Loopback
only."""

from __future__ import annotations

import base64
import glob
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

# Runs in a subprocess (the seeding creates its own app): argv = bench dir, instance dir, extra bidders,
# "1" to give the custodians API tokens, TOTP and their decrypted shares. Prints one JSON line.
SEED = r"""
import base64, json, os, sys
from pathlib import Path

bench, instance, extra_bidders, with_custodians = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
sys.path.insert(0, bench)
import upload_bench
import pyrage
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


info = upload_bench.seed(Path(instance), dict(os.environ))
first = {"token": info["token"], "key_id": info["key_id"], "pem": pem(info["key"])}
out = {"section_id": info["section_id"], "recipient": info["recipient"], **first, "bidders": [first],
       "custodians": {}}
with info["app"].test_request_context():
    from app.accounts import services as accounts
    from app.accounts import totp
    from app.accounts.models import User
    from app.bidding import services as bidding
    from app.bidding import signing
    from app.bidding.opening import custodian_share
    from app.core.clock import now
    from app.core.crypto import encrypt_at_rest
    from app.core.db import db
    from app.core.permissions import OrgKind, Role

    for n in range(2, extra_bidders + 2):
        org = accounts.create_organization(f"bidder {n}", OrgKind.BIDDER, actor=None)
        user = accounts.create_user(username=f"bidder{n}", display_name=f"bidder {n}", organization=org,
                                    role=Role.BIDDER, password=f"crash-bidder-{n}" * 3, actor=None)
        key = Ed25519PrivateKey.generate()
        row = bidding.register_bidder_key(
            org, base64.b64encode(signing.raw_public(key.public_key())).decode(), actor=user
        )
        out["bidders"].append(
            {"token": accounts.create_api_token(user, "crash").raw, "key_id": row.key_id, "pem": pem(key)}
        )
    if with_custodians == "1":
        for user_id, identity in info["custodians"].items():
            user = db.session.get(User, user_id)
            secret = totp.new_secret()
            user.totp_secret_enc = encrypt_at_rest(secret, purpose=accounts.TOTP_PURPOSE)
            user.totp_enabled_at = now()
            share = custodian_share(info["section_id"], user)
            out["custodians"][user.role] = {
                "token": accounts.create_api_token(user, "crash").raw,
                "totp_secret": base64.b64encode(secret).decode(),
                "mnemonic": pyrage.decrypt(share.ciphertext, [identity]).decode(),
            }
    db.session.commit()
print(json.dumps(out))
"""


def service_env() -> dict[str, str]:
    """The environment for a third-party service the tests start (Redis, PostgreSQL): never under a faked
    clock (CI's date runs preload libfaketime, which such servers do not survive); they are other machines."""
    return {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "FAKETIME")}


def app_env(tmp: Path, *, database_url: str | None = None) -> dict[str, str]:
    """The environment of a gunicorn and the flask CLI on a throwaway instance (SQLite unless given)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        FLASK_APP="app:create_app",
        DATABASE_URL=database_url or f"sqlite:///{tmp / 'instance' / 'platform.db'}",
        BLOB_DIR=str(tmp / "blobs"),
        SECRET_KEY="crash-test",
        DEMO_CLOCK="1",  # the seed places business time at a fixed date (bench/upload_bench.BENCH_T0)
        DATA_KEY="crash-test",
        PLATFORM_SIGNING_KEY=pem.decode(),
    )
    return env


def seed(tmp: Path, env: dict[str, str], *, bidders: int = 1, custodians: bool = False) -> dict[str, Any]:
    """Migrate the database of ``env`` and publish one section (``bench/upload_bench.seed``) with
    ``bidders`` bidder organizations, each with a signing key (``pem``, ``key_id``) and an API token."""
    (tmp / "instance").mkdir(exist_ok=True)
    args = [str(ROOT / "bench"), str(tmp / "instance"), str(bidders - 1), "1" if custodians else "0"]
    out = subprocess.run(
        [PY, "-c", SEED, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stderr[-4000:]
    info: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return info


# A signed-in session of a new account (argv: role, org kind, username), MFA passed: prints the cookie value.
SESSION = r"""
import os, sys
from app import create_app
from app.accounts import services as accounts
from app.core.clock import security_now
from app.core.db import db

role, kind, username = sys.argv[1:4]
app = create_app()
with app.app_context():
    org = accounts.create_organization(f"{username} org", kind, actor=None,
                                       industry="housing_construction" if kind == "regulator" else None)
    user = accounts.create_user(username=username, display_name=username, organization=org, role=role,
                                password=os.urandom(16).hex(), actor=None)
    raw, row = accounts.start_session(user, ip="127.0.0.1", user_agent="tests")
    row.mfa_passed_at = security_now()
    db.session.commit()
    with app.test_request_context():
        print(app.session_interface.get_signing_serializer(app).dumps({"_user_id": raw}))
"""


def session_cookie(env: dict[str, str], role: str, kind: str, username: str) -> str:
    """``Cookie`` header value of a fresh signed-in session (MFA passed) for a new account."""
    out = subprocess.run(
        [PY, "-c", SESSION, role, kind, username], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-4000:]
    return f"session={out.stdout.strip().splitlines()[-1]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gunicorn:
    def __init__(
        self,
        env: dict[str, str],
        target: str,
        *,
        workers: int = 1,
        worker_class: str = "sync",
        threads: int = 1,
        preexec_fn: Any = None,
    ) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                PY,
                "-m",
                "gunicorn",
                "-w",
                str(workers),
                "-k",
                worker_class,
                "--threads",
                str(threads),
                "--timeout",
                "120",
                "-b",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "error",
                target,
            ],
            cwd=ROOT,
            env=env,
            preexec_fn=preexec_fn,
        )
        self.wait_ready()

    def wait_ready(self) -> None:
        """Until a worker answers the health check (after a start, or after the master replaced a worker)."""
        for _ in range(150):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                try:
                    conn.request("GET", "/api/v1/health")
                    if conn.getresponse().status == 200:
                        return
                finally:
                    conn.close()
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def workers(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def worker(self) -> int:
        return self.workers()[0]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def put(port: int, path: str, body: bytes, headers: dict[str, str], *, send: int | None = None) -> Any:
    """PUT a body; with ``send``, only its first bytes, returning the open connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest("PUT", path)
        hdrs = {**headers, "Content-Length": str(len(body)), "Content-Type": "application/octet-stream"}
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        conn.send(body[: send if send is not None else len(body)])
        if send is not None:
            return conn
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        if send is None:
            conn.close()


def signed_headers(bidder: dict[str, str], section_id: int, body: bytes, kind: str) -> dict[str, str]:
    """Bearer token and the bidder's Ed25519 signature of an envelope (SPEC §3.2)."""
    import hashlib

    from app.bidding import signing

    key = signing.load_private_key(bidder["pem"].encode())
    statement = signing.envelope_statement(hashlib.sha256(body).hexdigest(), section_id, kind)
    return {
        "Authorization": f"Bearer {bidder['token']}",
        "X-Bid-Key-Id": bidder["key_id"],
        "X-Bid-Signature": base64.b64encode(key.sign(statement)).decode(),
    }


def flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "flask", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def run_python(env: dict[str, str], script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def bidding_check(env: dict[str, str]) -> str:
    """``flask bidding check`` must pass: every receipt has its file, every file its receipt."""
    r = flask(env, "bidding", "check")
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


# -- a private PostgreSQL ---------------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The directory holding initdb and pg_ctl (Debian layout first, then PATH)."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(Path(candidate) / "initdb", os.X_OK) and os.access(Path(candidate) / "pg_ctl", os.X_OK):
            return Path(candidate)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    return None


class PrivatePostgres:
    """A throwaway cluster on a free loopback port (fsync on), never the system one. initdb refuses to run
    as root, so under root the cluster belongs to the ``postgres`` system user."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.dir = Path(os.path.realpath(tempfile.mkdtemp(prefix="ggzy-pg-")))
        self.data = self.dir / "data"
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")  # KeyError: no unprivileged owner (the caller skips)
            os.chown(self.dir, account.pw_uid, account.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.dir}'\n"
                "fsync = on\nsynchronous_commit = on\nmax_connections = 50\nshared_buffers = 16MB\n"
            )
        self.start()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/ggzy"
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "ggzy")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.prefix, str(self.bindir / tool), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
            env=service_env(),
        )

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        subprocess.run(
            [*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
            env=service_env(),
        )
        shutil.rmtree(self.dir, ignore_errors=True)


# -- plain HTTP with a cookie -----------------------------------------------------------------------------


def http_request(
    port: int,
    method: str,
    path: str,
    *,
    cookie: str = "",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    host: str = "127.0.0.1",
    timeout: float = 120,
) -> tuple[int, dict[str, str], bytes]:
    """One request; answers status, headers (lower-case names) and body."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        if cookie:
            hdrs["Cookie"] = cookie
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def form_token(page: bytes) -> str:
    import re

    match = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        rb'name="csrf_token" value="([^"]+)"', page
    )
    assert match, "no CSRF token on the page"
    return match.group(1).decode()


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type."""
    import secrets as _secrets

    boundary = "----ggzy" + _secrets.token_hex(8)
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for name, (filename, data) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def cookie_after(cookie: str, headers: dict[str, str]) -> str:
    """The session cookie to send next: the one a response set (Flask re-signs it), else the same."""
    new = headers.get("set-cookie", "")
    return new.split(";", 1)[0] if new.startswith("session=") else cookie
