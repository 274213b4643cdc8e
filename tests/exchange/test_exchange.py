"""Data exchange with the provincial platform: every public record becomes one message with the unified
transaction code; the upper platform down for an hour loses nothing and receives nothing twice; the HTTP
adapter signs each push and repeats only with the same idempotency key; dead letters are shown to staff and
retried by hand (audited)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.core.clock import clock
from app.core.db import db
from app.core.models import AuditLeaf
from app.core.permissions import Role
from app.exchange import services
from app.exchange.codes import transaction_code
from app.exchange.models import ExchangeMessage, SimulatedProvinceRecord
from app.projects import services as projects
from tests.factories import csrf_token, login, make_user
from tests.portal.conftest import T0, Portal


def _push(app: Flask) -> tuple[int, int, int]:
    with app.test_request_context():
        made = services.sweep()
        db.session.commit()
        sent, failed = services.deliver()
    return made, sent, failed


def test_each_public_record_becomes_one_message_with_the_unified_code(portal: Portal, app: Flask) -> None:
    works = portal.publish(name="交换一标段")
    goods = portal.publish(portal.goods, name="交换货物包")
    clock.freeze(T0 + dt.timedelta(days=3))
    projects.publish_amendment(works, actor=portal.agent, title="澄清", body="答疑。", affects_bids=False)
    projects.cancel_section(goods, actor=portal.agent, reason="采购需求变化")
    made, sent, failed = _push(app)
    assert (made, sent, failed) == (4, 4, 0)
    assert _push(app) == (0, 0, 0)  # a second sweep finds nothing new: no message twice
    messages = db.session.scalars(select(ExchangeMessage).order_by(ExchangeMessage.leaf_idx)).all()
    assert [m.kind for m in messages] == ["announcement", "announcement", "amendment", "termination"]
    code = transaction_code(works)
    assert code == f"320600A{works.code[2:6]}{works.code[7:11]}-{works.code[-2:]}"
    assert {m.transaction_code for m in messages} == {code, transaction_code(goods)}
    assert transaction_code(goods).startswith("320600B")  # government procurement
    first = messages[0].payload
    leaf = db.session.scalar(select(AuditLeaf).where(AuditLeaf.idx == first["log"]["leaf_index"]))
    assert leaf is not None and bytes(leaf.leaf_hash).hex() == first["log"]["leaf_hash"]
    assert first["record"]["release"]["tender"]["id"] == works.code
    received = db.session.scalars(select(SimulatedProvinceRecord)).all()
    assert len(received) == 4 and all(r.repeats == 0 for r in received)


def test_an_hour_down_loses_nothing_and_sends_nothing_twice(portal: Portal, app: Flask) -> None:
    start = T0 + dt.timedelta(days=1)
    clock.freeze(start)
    services.simulate_outage(start + dt.timedelta(hours=1))
    sections = [portal.publish(name=f"停机期间标段{i}") for i in range(3)]
    attempts_seen = []
    minute = 0
    while minute <= 90:  # the cron job runs every minute for an hour and a half
        clock.freeze(start + dt.timedelta(minutes=minute))
        _made, sent, failed = _push(app)
        attempts_seen.append((minute, sent, failed))
        minute += 1
    failures = sum(f for _m, _s, f in attempts_seen)
    assert 3 * 6 <= failures <= 3 * 10  # backoff: 30 s, 1, 2, 4, 8, 16, 32 min … — not 60 tries each
    messages = db.session.scalars(select(ExchangeMessage)).all()
    assert {m.status for m in messages} == {"sent"} and len(messages) == 3
    assert all(m.sent_at is not None and m.sent_at >= start + dt.timedelta(hours=1) for m in messages)
    received = db.session.scalars(select(SimulatedProvinceRecord)).all()
    assert sorted(r.transaction_code for r in received) == sorted(transaction_code(s) for s in sections)
    assert all(r.repeats == 0 for r in received)


class _Province(BaseHTTPRequestHandler):
    """A stand-in upper platform over real HTTP: checks the signature, keeps one copy per idempotency key,
    and can fail (503) or drop its answer after storing (a lost response)."""

    secret = b""
    store: ClassVar[dict[str, bytes]] = {}
    repeats = 0
    mode = "ok"  # ok | fail | lose-answer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        stamp = self.headers["X-Exchange-Timestamp"]
        expected = hmac.new(self.secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, self.headers["X-Exchange-Signature"]):
            self.send_response(401)
            self.end_headers()
            return
        if type(self).mode == "fail":
            self.send_response(503)
            self.end_headers()
            return
        key = self.headers["Idempotency-Key"]
        if key in self.store:
            type(self).repeats += 1
        self.store.setdefault(key, body)
        if type(self).mode == "lose-answer":
            type(self).mode = "ok"
            self.connection.close()  # stored, but the platform never hears back
            return
        answer = json.dumps({"receipt": f"JS-{len(self.store)}"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_args: Any) -> None:
        return


@pytest.fixture
def province(app: Flask) -> Any:
    _Province.secret, _Province.store, _Province.repeats, _Province.mode = b"shared-secret", {}, 0, "ok"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Province)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    saved = {k: app.config.get(k) for k in ("EXCHANGE_ADAPTER", "EXCHANGE_URL", "EXCHANGE_HMAC_SECRET")}
    app.config.update(
        EXCHANGE_ADAPTER="http",
        EXCHANGE_URL=f"http://127.0.0.1:{server.server_address[1]}/api/exchange",
        EXCHANGE_HMAC_SECRET="shared-secret",
    )
    yield _Province
    app.config.update(saved)
    server.shutdown()
    server.server_close()


def test_the_http_adapter_signs_and_repeats_only_with_the_same_key(
    portal: Portal, app: Flask, province: Any
) -> None:
    clock.freeze(T0)
    section = portal.publish(name="接口标段")
    province.mode = "fail"
    assert _push(app)[1:] == (0, 1)
    message = db.session.scalar(select(ExchangeMessage))
    assert message is not None and "503" in (message.last_error or "")
    province.mode = "lose-answer"  # stored by the province, the answer lost on the way back
    clock.freeze(T0 + dt.timedelta(minutes=1))
    assert _push(app)[1:] == (0, 1)
    clock.freeze(T0 + dt.timedelta(minutes=5))
    assert _push(app)[1:] == (1, 0)
    assert len(province.store) == 1 and province.repeats == 1  # sent again with the same key, kept once
    db.session.refresh(message)
    assert message.status == "sent" and message.remote_receipt == "JS-1"
    stored = json.loads(next(iter(province.store.values())))
    assert stored["transaction_code"] == transaction_code(section) and stored["kind"] == "announcement"
    # a wrong shared secret is refused by the receiver (and retried, not lost)
    app.config["EXCHANGE_HMAC_SECRET"] = "wrong"
    portal.publish(name="签名错误标段")
    clock.freeze(T0 + dt.timedelta(minutes=10))
    assert _push(app)[1:] == (0, 1)
    assert db.session.scalar(select(func.count()).where(ExchangeMessage.status == "pending")) == 1


def test_dead_letters_are_shown_to_staff_and_retried(portal: Portal, app: Flask, client: FlaskClient) -> None:
    clock.freeze(T0)
    portal.publish(name="死信标段")
    services.simulate_outage(T0 + dt.timedelta(days=60))
    at = T0
    for _ in range(services.MAX_ATTEMPTS):
        _push(app)
        at += services.LONGEST_RETRY
        clock.freeze(at)
    message = db.session.scalar(select(ExchangeMessage))
    assert message is not None and message.status == "dead" and message.attempts == services.MAX_ATTEMPTS
    services.simulate_outage(None)
    db.session.commit()
    assert _push(app)[1:] == (0, 0)  # a dead letter waits for a person

    login(client, portal.staff)
    page = client.get("/exchange/").get_data(as_text=True)
    assert "无法送达" in page and "招标公告" in page and "announcement" not in page
    assert "无法连接接收方" in page and "ConnectionError" not in page
    resp = client.post(
        f"/exchange/messages/{message.id}/retry", data={"csrf_token": csrf_token(client, "/exchange/")}
    )
    assert resp.status_code == 302
    assert (
        db.session.scalar(select(AuditLeaf).where(AuditLeaf.action == "exchange:message:retry")) is not None
    )
    assert _push(app)[1:] == (1, 0)
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/workbench")})
    login(client, make_user(Role.BIDDER))
    assert client.get("/exchange/").status_code == 403
