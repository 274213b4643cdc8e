"""JSON API of the data exchange: the public event feed (replay by cursor) and webhook subscriptions."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import select

from app.accounts.models import User
from app.core.db import db
from app.core.idempotency import idempotent
from app.core.permissions import Permission, public, require
from app.core.web import MAX_ROW_ID

from . import webhooks
from .models import ExchangeMessage, WebhookDelivery, WebhookSubscription

blp = Blueprint("exchange_api", __name__, url_prefix="/api/v1", description="Public events and webhooks")


class EventsArgs(Schema):
    class Meta:
        unknown = RAISE

    cursor = fields.Integer(load_default=-1, validate=validate.Range(min=-1, max=MAX_ROW_ID))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class SubscriptionIn(Schema):
    class Meta:
        unknown = RAISE

    url = fields.String(required=True, validate=validate.Length(min=8, max=500))
    kinds = fields.List(
        fields.String(validate=validate.Length(max=32)), load_default=list, validate=validate.Length(max=20)
    )


class ReplayIn(Schema):
    class Meta:
        unknown = RAISE

    after = fields.Integer(required=True, validate=validate.Range(min=-1, max=MAX_ROW_ID))


class SubscriptionOut(Schema):
    id = fields.Int()
    url = fields.Str()
    kinds = fields.List(fields.Str())
    created_at = fields.DateTime()


class DeliveryOut(Schema):
    id = fields.Int()
    cursor = fields.Int(attribute="message.leaf_idx")
    kind = fields.Str(attribute="message.kind")
    status = fields.Str(metadata={"description": "pending, sent or dead"})
    attempts = fields.Int()
    last_error = fields.Str(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    next_attempt_at = fields.DateTime()


def _me() -> User:
    user: User = current_user.user
    return user


@blp.route("/public/events")
@blp.arguments(EventsArgs, location="query")
@blp.response(200)
@public
def events(args: dict[str, Any]) -> Response:
    """The public-record events (announcements, amendments, opening records, publicity, results, contracts,
    published complaint decisions) after ``cursor``, in log order: the same bodies webhooks deliver. Keep
    ``next_cursor`` to continue; a subscriber that missed deliveries replays from its last cursor."""
    rows = db.session.scalars(
        select(ExchangeMessage)
        .where(ExchangeMessage.leaf_idx > args["cursor"])
        .order_by(ExchangeMessage.leaf_idx)
        .limit(args["limit"] + 1)
    ).all()
    more = len(rows) > args["limit"]
    rows = rows[: args["limit"]]
    cursor = rows[-1].leaf_idx if rows else args["cursor"]
    return jsonify({"data": [webhooks.event_body(m) for m in rows], "next_cursor": cursor, "has_more": more})


@blp.route("/webhooks")
@blp.response(200, SubscriptionOut(many=True))
@require(Permission.WEBHOOK_MANAGE)
def list_webhooks() -> list[WebhookSubscription]:
    """The caller's endpoints."""
    return list(
        db.session.scalars(
            select(WebhookSubscription)
            .where(WebhookSubscription.user_id == _me().id, WebhookSubscription.active)
            .order_by(WebhookSubscription.id)
        )
    )


@blp.route("/webhooks", methods=["POST"])
@idempotent
@blp.arguments(SubscriptionIn)
@blp.response(201)
@require(Permission.WEBHOOK_MANAGE)
def create_webhook(body: dict[str, Any]) -> Response:
    """Register an https endpoint for some event kinds (all when empty). The answer carries the signing
    secret, shown this once: verify ``X-Webhook-Signature`` = ``sha256=`` hex HMAC-SHA256(secret,
    ``X-Webhook-Timestamp`` + "." + body)."""
    sub, secret = webhooks.subscribe(_me(), url=body["url"], kinds=body["kinds"])
    db.session.commit()
    resp = jsonify({**SubscriptionOut().dump(sub), "secret": secret})
    resp.status_code = 201
    return resp


@blp.route("/webhooks/<int:subscription_id>", methods=["DELETE"])
@blp.response(204)
@require(Permission.WEBHOOK_MANAGE)
def delete_webhook(subscription_id: int) -> Response:
    webhooks.unsubscribe(_me(), subscription_id)
    db.session.commit()
    return Response(status=204)


@blp.route("/webhooks/<int:subscription_id>/deliveries")
@blp.response(200, DeliveryOut(many=True))
@require(Permission.WEBHOOK_MANAGE)
def deliveries(subscription_id: int) -> list[WebhookDelivery]:
    """The endpoint's latest deliveries (newest first), with their errors."""
    sub = webhooks.own(_me(), subscription_id)
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.subscription_id == sub.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(100)
        )
    )


@blp.route("/webhooks/<int:subscription_id>/replay", methods=["POST"])
@blp.arguments(ReplayIn)
@blp.response(200)
@require(Permission.WEBHOOK_MANAGE)
def replay(body: dict[str, Any], subscription_id: int) -> Response:
    """Queue again every event after the cursor ``after`` for this endpoint."""
    queued = webhooks.replay(_me(), subscription_id, after=body["after"])
    db.session.commit()
    return jsonify({"queued": queued})
