"""Webhooks: a subscriber registers an https endpoint (private and local addresses refused), receives every
public-record event signed with its own secret, gets retries after a failure, replays by cursor, and pulls the
same events from the public feed; nobody else sees or removes its subscription."""

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
from sqlalchemy import select

from app.accounts import services as accounts
from app.core.clock import clock
from app.core.db import db
from app.core.models import AuditLeaf
from app.core.permissions import Role
from app.exchange import services, webhooks
from app.projects import services as projects
from tests.factories import make_user
from tests.portal.conftest import T0, Portal


class _Subscriber(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    fail_next = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).fail_next:
            type(self).fail_next -= 1
            self.send_response(500)
            self.end_headers()
            return
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        return


@pytest.fixture
def endpoint(app: Flask) -> Any:
    _Subscriber.received, _Subscriber.fail_next = [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Subscriber)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    server.shutdown()
    server.server_close()


def _push(app: Flask) -> tuple[int, int]:
    with app.test_request_context():
        services.sweep()
        db.session.commit()
        services.deliver()
        return webhooks.deliver()


def _headers(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {accounts.create_api_token(user, name='hooks').raw}"}


def test_endpoints_on_private_or_local_addresses_are_refused(client: FlaskClient, portal: Portal) -> None:
    headers = _headers(make_user(Role.REGULATOR))
    for url in (
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/x",
        "https://[::1]/x",
        "https://169.254.169.254/latest",
        "https://user:pw@example.com/x",
        "ftp://example.com/x",
    ):
        resp = client.post("/api/v1/webhooks", json={"url": url}, headers=headers)
        assert resp.status_code == 422, url
        assert "url" in resp.get_json()["errors"]
    bad_kind = client.post(
        "/api/v1/webhooks", json={"url": "https://127.0.0.1/", "kinds": ["gossip"]}, headers=headers
    )
    assert bad_kind.status_code == 422


def test_signed_events_retries_replay_and_the_public_feed(
    client: FlaskClient, app: Flask, portal: Portal, endpoint: str
) -> None:
    clock.freeze(T0)
    owner = make_user(Role.REGULATOR)
    headers = _headers(owner)
    created = client.post(
        "/api/v1/webhooks", json={"url": endpoint, "kinds": ["announcement"]}, headers=headers
    )
    assert created.status_code == 201
    secret, sub_id = created.get_json()["secret"], created.get_json()["id"]
    assert "secret" not in client.get("/api/v1/webhooks", headers=headers).get_data(as_text=True)

    section = portal.publish(name="订阅标段")
    # an amendment: a kind this endpoint did not ask for (the public feed has it)
    projects.publish_amendment(section, actor=portal.agent, title="澄清", body="答疑。", affects_bids=False)
    _Subscriber.fail_next = 1
    assert _push(app) == (0, 1)  # the endpoint failed: retried later, not lost
    clock.freeze(T0 + dt.timedelta(minutes=1))
    assert _push(app) == (1, 0)
    assert len(_Subscriber.received) == 1
    got_headers, body = _Subscriber.received[0]
    expected = hmac.new(
        secret.encode(), got_headers["X-Webhook-Timestamp"].encode() + b"." + body, hashlib.sha256
    )
    assert got_headers["X-Webhook-Signature"] == f"sha256={expected.hexdigest()}"
    event = json.loads(body)
    assert event["kind"] == "announcement" and event["section_code"] == section.code
    assert got_headers["X-Webhook-Cursor"] == str(event["cursor"])

    # the public feed has both events (the amendment too) and pages by cursor
    feed = client.get("/api/v1/public/events", query_string={"cursor": -1, "limit": 1}).get_json()
    assert feed["has_more"] and feed["data"][0]["cursor"] == event["cursor"]
    rest = client.get("/api/v1/public/events", query_string={"cursor": feed["next_cursor"]}).get_json()
    assert [e["kind"] for e in rest["data"]] == ["amendment"] and not rest["has_more"]

    # replay from before the first event: delivered again (the subscriber dedups by cursor if it wants)
    replay = client.post(f"/api/v1/webhooks/{sub_id}/replay", json={"after": -1}, headers=headers)
    assert replay.status_code == 200 and replay.get_json() == {"queued": 1}
    assert _push(app) == (1, 0) and len(_Subscriber.received) == 2
    listed = client.get(f"/api/v1/webhooks/{sub_id}/deliveries", headers=headers).get_json()
    assert listed[0]["status"] == "sent" and listed[0]["kind"] == "announcement"
    assert (
        db.session.scalar(select(AuditLeaf).where(AuditLeaf.action == "exchange:webhook:replay")) is not None
    )

    # another account neither sees nor removes it
    other = _headers(make_user(Role.BIDDER))
    assert client.get(f"/api/v1/webhooks/{sub_id}/deliveries", headers=other).status_code == 404
    assert client.delete(f"/api/v1/webhooks/{sub_id}", headers=other).status_code == 404
    assert client.delete(f"/api/v1/webhooks/{sub_id}", headers=headers).status_code == 204
    portal.publish(name="退订后标段")
    clock.freeze(T0 + dt.timedelta(minutes=5))
    assert _push(app) == (0, 0)  # unsubscribed: nothing more
    assert client.get("/api/v1/webhooks", headers=_headers(make_user(Role.EXPERT))).status_code == 403
