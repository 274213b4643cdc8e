"""``ggzy-bid receipt verify`` against a live gunicorn, end to end: bidders submit with the CLI (one replaces
summary, one withdraws), the section is opened, and each receipt is checked against the published opening
record, proven in the audit log under the latest signed checkpoint. Exit 0 opened as receipted, 1 not
opened (with the reason) or mismatch, 75 server unreachable."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import Gunicorn, app_env, free_port, run_python, seed

CLI = [sys.executable, "-m", "app.bidding.client_cli"]

OPEN = """
import datetime as dt, json, sys
from app import create_app
from app.bidding import opening
from app.core import democlock
from app.core.db import db
from app.projects.models import Section

sid, mnemonics = int(sys.argv[1]), json.loads(sys.argv[2])
app = create_app()
with app.test_request_context():
    democlock.advance(dt.timedelta(days=42), actor=None)
    db.session.commit()
    section = db.session.get(Section, sid)
    by_role = {str(c.user.role): c.user for c in section.custodians}
    ceremony = opening.start_ceremony(sid, actor=by_role["center_staff"])
    db.session.commit()
    for role in ("center_staff", "regulator"):
        _, quorum = opening.submit_share(sid, mnemonics[role], actor=by_role[role])
        db.session.commit()
        if quorum:
            opening.run_opening(ceremony.id, actor=by_role[role])
            break
    print(opening.completed_ceremony(db.session.get(Section, sid)).status)
"""


def _run(live: dict[str, Any], *args: str, lang: str | None = "en", server: str | None = None) -> Any:
    env = {k: v for k, v in live["env"].items() if not k.startswith("GGZY_") and k not in ("LANG", "LC_ALL")}
    head = [*CLI, "--server", server or live["url"]]
    if lang:
        head += ["--lang", lang]
    return subprocess.run([*head, *args], env=env, capture_output=True, text=True, timeout=120)


def _submit(live: dict[str, Any], n: int, folder: str, price: str) -> Path:
    """Bidder ``n`` seals and submits a summary from its own folder; answers the receipt file."""
    bidder = live["info"]["bidders"][n]
    work: Path = live["tmp"] / folder
    work.mkdir()
    key = work / "bidder-key.pem"
    key.write_text(bidder["pem"])
    (work / "summary.json").write_text(json.dumps({"price": price, "duration": 300}), encoding="utf-8")
    sid = str(live["info"]["section_id"])
    sealed = _run(live, "seal", "--section", sid, "--summary", str(work / "summary.json"))
    assert sealed.returncode == 0, sealed.stdout + sealed.stderr
    envelope = work / "summary.json.age"
    out = _run(live, "--token", bidder["token"], "submit", "--section", sid, "--key", str(key), str(envelope))
    assert out.returncode == 0, out.stdout + out.stderr
    return envelope.with_name(envelope.name + ".receipt.json")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("receipt-verify")
    env = app_env(tmp)
    info = seed(tmp, env, bidders=4, custodians=True)
    server = Gunicorn(env, "app:create_app()", workers=1, worker_class="gthread")
    try:
        yield {"env": env, "info": info, "url": f"http://127.0.0.1:{server.port}", "tmp": tmp}
    finally:
        server.stop()


def test_receipts_are_checked_against_the_opening_record_proven_in_the_log(live: dict[str, Any]) -> None:
    tmp: Path = live["tmp"]
    replaced = _submit(live, 0, "first-a", "9100000.00")
    kept = _submit(live, 0, "first-b", "9000000.00")  # the same slot: supersedes the first summary
    second = _submit(live, 1, "second", "9200000.00")
    _submit(live, 2, "third", "9300000.00")
    withdrawn = _submit(live, 3, "fourth", "9400000.00")
    out = _run(
        live,
        "--token",
        live["info"]["bidders"][3]["token"],
        "withdraw",
        "--section",
        str(live["info"]["section_id"]),
    )
    assert out.returncode == 0 and "1 envelope(s) withdrawn" in out.stdout, out.stdout + out.stderr
    out = _run(live, "platform-key", "--out", str(tmp / "platform.pub"))
    assert out.returncode == 0, out.stderr
    key = str(tmp / "platform.pub")

    # a receipt altered by one byte is refused before anything else
    text = second.read_text()
    at = text.index('"sha256": "') + len('"sha256": "')
    tampered = tmp / "tampered.receipt.json"
    tampered.write_text(text[:at] + ("0" if text[at] != "0" else "1") + text[at + 1 :])
    out = _run(live, "receipt", "verify", "--platform-key", key, str(tampered))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "INVALID RECEIPT: the platform signature does not verify" in out.stdout

    # before the opening: not opened yet, in Chinese by default
    out = _run(live, "receipt", "verify", "--platform-key", key, str(second), lang=None)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "未开启" in out.stdout and "尚未开标" in out.stdout, out.stdout
    out = _run(live, "receipt", "verify", "--offline", "--platform-key", key, str(second))
    assert out.returncode == 0 and out.stdout.startswith("OK: summary"), out.stdout + out.stderr

    mnemonics = {role: c["mnemonic"] for role, c in live["info"]["custodians"].items()}
    opened = run_python(
        live["env"],
        OPEN.replace("sys.argv[1]", repr(str(live["info"]["section_id"]))).replace(
            "sys.argv[2]", repr(json.dumps(mnemonics))
        ),
    )
    assert opened.returncode == 0 and opened.stdout.strip().endswith("completed"), opened.stderr[-3000:]

    out = _run(live, "receipt", "verify", "--platform-key", key, str(second))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "is leaf" in out.stdout and "proven by the signed checkpoint" in out.stdout
    assert "OPENED: summary" in out.stdout and "bidder 2" in out.stdout
    out = _run(live, "receipt", "verify", "--platform-key", key, str(second), lang="zh")
    assert out.returncode == 0 and "已开启" in out.stdout and "与回执一致" in out.stdout, out.stdout

    out = _run(live, "receipt", "verify", "--platform-key", key, str(kept))
    assert out.returncode == 0 and "OPENED" in out.stdout, out.stdout + out.stderr
    superseded_by = json.loads(kept.read_text())["receipt"]["sha256"][:16]
    out = _run(live, "receipt", "verify", "--platform-key", key, str(replaced))
    assert out.returncode == 1, out.stdout + out.stderr
    assert (
        "NOT OPENED: the envelope" in out.stdout
        and f"superseded before the deadline by envelope {superseded_by}" in out.stdout
    )
    assert "(which was opened)" in out.stdout
    out = _run(live, "receipt", "verify", "--platform-key", key, str(withdrawn))
    assert out.returncode == 1 and "was withdrawn before the bid deadline" in out.stdout, (
        out.stdout + out.stderr
    )

    # without a pinned key, the keys the server publishes, said so on stderr
    out = _run(live, "receipt", "verify", str(second))
    assert out.returncode == 0 and "OPENED" in out.stdout and "/api/v1/audit/keys" in out.stderr, (
        out.stdout + out.stderr
    )
    # the server out of reach: try again later
    out = _run(
        live,
        "receipt",
        "verify",
        "--platform-key",
        key,
        str(second),
        server=f"http://127.0.0.1:{free_port()}",
    )
    assert out.returncode == 75 and "run the command again" in out.stderr, out.stdout + out.stderr
    # another platform's key: the receipt does not verify
    other = tmp / "other.pub"
    other.write_text("A" * 43 + "=")
    out = _run(live, "receipt", "verify", "--platform-key", str(other), str(second))
    assert out.returncode == 1 and "INVALID RECEIPT" in out.stdout
