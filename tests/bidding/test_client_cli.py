"""``ggzy-bid`` against a live gunicorn: every refusal is printed with the server's code and message whatever
the envelope's size, the exit status says whether to fix the cause (3) or try again (75), and only a
definitive refusal removes the envelope's idempotency file."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyrage
import pytest

from tests.servers import Gunicorn, app_env, free_port, run_python, seed

ADVANCE = """
import datetime as dt
from app import create_app
from app.core import democlock
from app.core.db import db

app = create_app()
with app.app_context():
    democlock.advance(dt.timedelta(days=42), actor=None)
    db.session.commit()
"""

CLI = [sys.executable, "-m", "app.bidding.client_cli"]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("cli")
    env = app_env(tmp)
    info = seed(tmp, env)
    server = Gunicorn(env, "app:create_app()", workers=1, worker_class="gthread")
    key = tmp / "bidder-key.pem"
    key.write_text(info["pem"])
    try:
        yield {"env": env, "info": info, "url": f"http://127.0.0.1:{server.port}", "key": key, "tmp": tmp}
    finally:
        server.stop()


def _envelope(live: dict[str, Any], name: str, mib: float) -> Path:
    path: Path = live["tmp"] / name
    recipient = pyrage.x25519.Recipient.from_str(live["info"]["recipient"])
    path.write_bytes(pyrage.encrypt(os.urandom(int(mib * 2**20)), [recipient]))
    return path


def _submit(live: dict[str, Any], envelope: Path, *, token: str | None = None, url: str | None = None) -> Any:
    args = [
        *CLI,
        "--server",
        url or live["url"],
        "--token",
        token or live["info"]["token"],
        "--lang",
        "en",
        "submit",
        "--section",
        str(live["info"]["section_id"]),
        "--key",
        str(live["key"]),
        str(envelope),
    ]
    env = {k: v for k, v in live["env"].items() if not k.startswith("GGZY_")}
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)


def _idempotency(envelope: Path) -> Path:
    return envelope.with_name(envelope.name + ".idempotency")


def test_the_commands_on_the_public_tender_page_work_when_pasted(
    live: dict[str, Any], tmp_path: Path
) -> None:
    """The public page of a tender shows the opening recipient and complete commands: run them as printed
    (with the bidder's token in GGZY_TOKEN, its key in bidder-key.pem) and they seal, submit and verify."""
    import html
    import re
    import urllib.request

    sid = live["info"]["section_id"]
    with urllib.request.urlopen(f"{live['url']}/portal/sections/{sid}") as resp:  # noqa: S310 (loopback)
        page = resp.read().decode()
    assert live["info"]["recipient"] in page
    blocks = [html.unescape(b) for b in re.findall(r"<pre><code>(.*?)</code></pre>", page, re.S)]
    commands = [line for block in blocks for line in block.splitlines() if line.strip()]
    assert any(c.startswith(f"age -r {live['info']['recipient']} ") for c in commands)
    assert any("submit" in c and "--token" in c for c in commands)

    (tmp_path / "summary.json").write_text('{"price": "9000000.00", "duration": 300}', encoding="utf-8")
    (tmp_path / "doc.pdf").write_bytes(b"%PDF-1.7 " + os.urandom(4096))
    (tmp_path / "bidder-key.pem").write_text(live["info"]["pem"])
    env = {
        **{k: v for k, v in live["env"].items() if not k.startswith("GGZY_")},
        "GGZY_TOKEN": live["info"]["token"],
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    script = "set -e\n" + "\n".join(commands) + "\n"
    out = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "summary.json.age: received" in out.stdout and "doc.pdf.age: received" in out.stdout
    assert "OK: summary" in out.stdout  # the receipt verified offline against the platform key


@pytest.mark.parametrize("mib", [1, 8])
def test_a_bad_token_is_a_printed_refusal_and_the_idempotency_file_goes(
    live: dict[str, Any], mib: int
) -> None:
    envelope = _envelope(live, f"badtoken-{mib}.pdf.age", mib)
    out = _submit(live, envelope, token="ggzy_not-a-token")
    assert out.returncode == 3, out.stdout + out.stderr
    assert "HTTP 401 unauthorized" in out.stderr and "sign in" in out.stderr.lower()
    assert not _idempotency(envelope).exists()


def test_an_unreachable_server_keeps_the_idempotency_file_for_the_retry(live: dict[str, Any]) -> None:
    envelope = _envelope(live, "offline.pdf.age", 1)
    out = _submit(live, envelope, url=f"http://127.0.0.1:{free_port()}")
    assert out.returncode == 75, out.stdout + out.stderr
    assert "network error" in out.stderr and "run the command again" in out.stderr
    assert _idempotency(envelope).exists()


def test_accepted_then_after_the_deadline_every_size_is_refused_with_the_reason(live: dict[str, Any]) -> None:
    accepted = _envelope(live, "accepted.pdf.age", 1)
    out = _submit(live, accepted)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "received" in out.stdout and not _idempotency(accepted).exists()
    assert accepted.with_name(accepted.name + ".receipt.json").exists()

    moved = run_python(live["env"], ADVANCE)
    assert moved.returncode == 0, moved.stderr
    for mib in (1, 8):
        envelope = _envelope(live, f"late-{mib}.pdf.age", mib)
        out = _submit(live, envelope)
        assert out.returncode == 3, (mib, out.stdout + out.stderr)
        assert "HTTP 409 deadline_passed" in out.stderr, out.stderr
        assert "deadline" in out.stderr.split("deadline_passed", 1)[1].lower()  # the English message
        assert not _idempotency(envelope).exists()
