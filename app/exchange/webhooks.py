"""Webhooks for subscribers (regulators' systems, bidders' tools): every public-record event the provincial
push carries (:mod:`.services`), POSTed to the subscriber's HTTPS endpoint and signed with its own secret.

* Signature: ``X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`` with
  ``X-Webhook-Timestamp`` (Unix seconds); ``X-Webhook-Cursor`` is the event's position (its audit leaf index).
* Retries with the push's backoff (30 s doubling to 1 h; dead after a day), one delivery per event and
  subscription. Missed events are replayed by cursor: ``GET /api/v1/public/events?cursor=N`` pulls them, and
  ``POST /api/v1/webhooks/<id>/replay`` queues them again for the endpoint.
* Server-side request forgery: an endpoint must be ``https`` and resolve only to public addresses, checked
  when it is registered and again before every delivery; redirects are not followed. ``WEBHOOK_ALLOW_PRIVATE``
  (tests, a closed demo network) lifts the address check and allows ``http``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import urllib.error
import urllib.request
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.accounts.models import User
from app.core import audit, crypto
from app.core.clock import now
from app.core.db import db
from app.core.errors import DomainError, NotFound

from .models import ExchangeMessage, WebhookDelivery, WebhookSubscription

SECRET_PURPOSE = "webhook.secret"  # noqa: S105 - an encryption purpose label, not a secret
MAX_SUBSCRIPTIONS = 10  # per account


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None  # a 3xx is an answer (a failed delivery), never followed


_OPENER = urllib.request.build_opener(_NoRedirect)


def _allow_private() -> bool:
    return bool(current_app.config.get("WEBHOOK_ALLOW_PRIVATE"))


def check_url(url: str) -> str:
    """The endpoint, if it is acceptable; else a DomainError saying why."""
    url = (url or "").strip()
    parts = urlsplit(url)
    schemes = {"https", "http"} if _allow_private() else {"https"}
    if (
        parts.scheme not in schemes
        or not parts.hostname
        or len(url) > 500
        or parts.username
        or parts.password
    ):
        raise DomainError(
            _("The endpoint must be an https:// address (without user name or password)."),
            errors={"url": [_("Invalid address.")]},
        )
    if _allow_private():
        return url
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError:
        raise DomainError(
            _("The endpoint's host name does not resolve."), errors={"url": [_("Unknown host.")]}
        ) from None
    for info in infos:
        if not ipaddress.ip_address(info[4][0]).is_global:
            raise DomainError(
                _("The endpoint must be on the public internet, not a private or local address."),
                errors={"url": [_("Private address.")]},
            )
    return url


def subscribe(user: User, *, url: str, kinds: list[str]) -> tuple[WebhookSubscription, str]:
    """Register an endpoint; returns the subscription and its secret (shown once)."""
    from .services import KINDS

    known = set(KINDS.values()) | {"failure"}
    unknown = sorted(set(kinds) - known)
    if unknown:
        raise DomainError(_("Unknown event kinds."), errors={"kinds": unknown})
    active = db.session.scalars(
        select(WebhookSubscription.id).where(
            WebhookSubscription.user_id == user.id, WebhookSubscription.active
        )
    ).all()
    if len(active) >= MAX_SUBSCRIPTIONS:
        raise DomainError(_("At most %(n)d endpoints per account.", n=MAX_SUBSCRIPTIONS))
    secret = "whsec_" + secrets.token_urlsafe(32)
    sub = WebhookSubscription(
        user_id=user.id,
        url=check_url(url),
        kinds=sorted(set(kinds)),
        secret_enc=crypto.encrypt_at_rest(secret.encode(), purpose=SECRET_PURPOSE),
        active=True,
        created_at=now(),
    )
    db.session.add(sub)
    db.session.flush()
    audit.record(
        "exchange:webhook:create",
        actor=user,
        object_type="webhook_subscription",
        object_id=sub.id,
        payload={"url": sub.url, "kinds": sub.kinds},
    )
    return sub, secret


def own(user: User, subscription_id: int) -> WebhookSubscription:
    sub = db.session.get(WebhookSubscription, subscription_id)
    if sub is None or sub.user_id != user.id or not sub.active:
        raise NotFound(_("No such webhook."))
    return sub


def unsubscribe(user: User, subscription_id: int) -> None:
    sub = own(user, subscription_id)
    sub.active = False
    audit.record("exchange:webhook:delete", actor=user, object_type="webhook_subscription", object_id=sub.id)


def _wants(sub: WebhookSubscription, message: ExchangeMessage) -> bool:
    return not sub.kinds or message.kind in sub.kinds


def _queue(sub: WebhookSubscription, message: ExchangeMessage) -> bool:
    existing = db.session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.subscription_id == sub.id, WebhookDelivery.message_id == message.id
        )
    )
    if existing is not None:
        existing.status, existing.attempts, existing.next_attempt_at = "pending", 0, now()
        return True
    try:
        with db.session.begin_nested():
            db.session.add(
                WebhookDelivery(subscription_id=sub.id, message_id=message.id, next_attempt_at=now())
            )
    except IntegrityError:
        return False
    return True


def fan_out(message: ExchangeMessage) -> None:
    """Queue a new event for every active subscription that wants its kind (called by the sweep)."""
    for sub in db.session.scalars(select(WebhookSubscription).where(WebhookSubscription.active)):
        if _wants(sub, message):
            _queue(sub, message)


def replay(user: User, subscription_id: int, *, after: int) -> int:
    """Queue again every event after the cursor ``after`` that the subscription wants; returns how many."""
    sub = own(user, subscription_id)
    messages = db.session.scalars(
        select(ExchangeMessage).where(ExchangeMessage.leaf_idx > after).order_by(ExchangeMessage.leaf_idx)
    ).all()
    queued = sum(1 for m in messages if _wants(sub, m) and _queue(sub, m))
    audit.record(
        "exchange:webhook:replay",
        actor=user,
        object_type="webhook_subscription",
        object_id=sub.id,
        payload={"after": after, "queued": queued},
    )
    return queued


def event_body(message: ExchangeMessage) -> dict[str, Any]:
    """What a subscriber receives and what the public event feed lists."""
    return {"cursor": message.leaf_idx, **message.payload}


def _send(delivery: WebhookDelivery) -> str | None:
    sub = delivery.subscription
    if not sub.active:
        raise RuntimeError("the subscription was removed")
    url = check_url(sub.url)  # again: the name may resolve elsewhere now
    body = json.dumps(event_body(delivery.message), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    stamp = str(int(now().timestamp()))
    secret = crypto.decrypt_at_rest(sub.secret_enc, purpose=SECRET_PURPOSE)
    mac = hmac.new(secret, stamp.encode() + b"." + body.encode(), hashlib.sha256).hexdigest()
    req = urllib.request.Request(  # noqa: S310 - scheme checked by check_url
        url,
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "ggzy-webhooks/1",
            "X-Webhook-Id": str(delivery.id),
            "X-Webhook-Event": delivery.message.kind,
            "X-Webhook-Cursor": str(delivery.message.leaf_idx),
            "X-Webhook-Timestamp": stamp,
            "X-Webhook-Signature": f"sha256={mac}",
        },
    )
    try:
        with _OPENER.open(req, timeout=10) as resp:
            if resp.status >= 300:
                raise RuntimeError(f"endpoint answered {resp.status}")
    except urllib.error.HTTPError as err:
        raise RuntimeError(f"endpoint answered {err.code}") from err
    return None


def deliver(limit: int = 100) -> tuple[int, int]:
    from .services import attempt, lease

    sent = failed = 0
    for delivery in lease(WebhookDelivery, limit):
        if attempt(delivery, partial(_send, delivery), dead_action="exchange:webhook:dead"):
            sent += 1
        else:
            failed += 1
    return sent, failed


def reencrypt_secrets(batch: int = 500) -> int:
    """Data key rotation: the subscribers' secrets under the current key."""
    return crypto.reencrypt_column(WebhookSubscription.secret_enc, SECRET_PURPOSE, batch=batch)
