"""``ggzy-bid submit`` against a server that answers 503 or 500 (a small local HTTP server in a thread, not
the platform): a transient answer exits 75 (try again later), prints the server's code and message, and keeps
the envelope's idempotency file so that the retry is the same request (issue 13). The refusals and the
network failure are in tests/bidding/test_client_cli.py."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

CLI = [sys.executable, "-m", "app.bidding.client_cli"]

#: status → (content type, body) the server answers to every request
ANSWERS = {
    503: (
        "application/json",
        json.dumps({"code": "unavailable", "status": 503, "message": "Maintenance, back in 10 minutes"}),
    ),
    500: ("text/plain; charset=utf-8", "Internal Server Error: the database is gone"),
}


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 503
    seen: list[tuple[str, str, int, str]]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""  # read it all: the answer is not a refusal
        self.seen.append((self.command, self.path, len(body), self.headers.get("Idempotency-Key", "")))
        content_type, text = ANSWERS[self.status]
        data = text.encode()
        self.send_response(self.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(params=[503, 500])
def failing_server(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[str, int, list[tuple[str, str, int, str]]]]:
    seen: list[tuple[str, str, int, str]] = []
    handler = type("Handler", (_Handler,), {"status": request.param, "seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="failing-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", request.param, seen
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def test_a_server_error_keeps_the_idempotency_file_and_says_try_again(
    failing_server: tuple[str, int, list[tuple[str, str, int, str]]], tmp_path: Path
) -> None:
    url, status, seen = failing_server
    key = tmp_path / "bidder-key.pem"
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    envelope = tmp_path / "tech.pdf.age"
    envelope.write_bytes(os.urandom(2**20))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GGZY_")}
    args = [*CLI, "--server", url, "--token", "ggzy_x", "--lang", "en", "submit", "--section", "7"]
    out = subprocess.run(
        [*args, "--key", str(key), str(envelope)], env=env, capture_output=True, text=True, timeout=120
    )

    assert out.returncode == 75, out.stdout + out.stderr
    assert f"HTTP {status}" in out.stderr and "try again later" in out.stderr
    if status == 503:
        assert "unavailable: Maintenance, back in 10 minutes" in out.stderr
    else:
        assert "the database is gone" in out.stderr
    idempotency = envelope.with_name(envelope.name + ".idempotency")
    assert idempotency.exists() and idempotency.read_text().strip()
    assert not envelope.with_name(envelope.name + ".receipt.json").exists()
    assert seen and seen[0][0] == "PUT" and seen[0][1].startswith("/api/v1/bidding/sections/7/envelopes")
    assert seen[0][2] == 2**20  # the whole body was sent: the answer came after it

    # the retry sends the same key again
    kept = idempotency.read_text().strip()
    again = subprocess.run(
        [*args, "--key", str(key), str(envelope)], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 75 and idempotency.read_text().strip() == kept
    assert [s[3] for s in seen] == [kept, kept]  # both requests carried the kept key
