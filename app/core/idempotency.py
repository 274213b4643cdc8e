"""``Idempotency-Key`` on the API's creating POSTs: a client that retries (a timeout, a lost answer) sends
the same key and gets the first answer again, once, whichever worker or machine serves the retry.

The key is the caller's (its account; anonymous callers share one scope, so their keys must be long enough
not to be guessed). The first request reserves the key in the ``idempotency_key`` table and commits the
reservation before any work starts; its successful answer is stored there. Then:

* same key, same method, path and body → the stored answer, with ``Idempotent-Replayed: true``;
* same key, another request → 422 ``idempotency_key_reused``;
* same key while the first request still runs → 409 ``idempotency_in_progress``.

A refused first request (any 4xx/5xx) frees its key, so the client may fix the request and send it again
with the same key. Keys are forgotten after :data:`KEEP`. Stored answers are encrypted under the data key
(they may carry a report's tracking code or a webhook secret, shown once).

Usage, between the route and the argument parsing so that a replay returns the stored body as is::

    @blp.route("/things", methods=["POST"])
    @idempotent
    @blp.arguments(ThingIn)
    @blp.response(201, ThingOut)
    @require(Permission.X)
    def create(body): ...
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, make_response, request
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from .clock import security_now
from .crypto import decrypt_at_rest, encrypt_at_rest
from .db import db
from .errors import Conflict, DomainError
from .models import IdempotencyKey

F = TypeVar("F", bound=Callable[..., Any])

HEADER = "Idempotency-Key"
MAX_KEY = 255
MIN_ANONYMOUS_KEY = 32  # an anonymous caller's key is its only secret: long enough not to be guessed
KEEP = dt.timedelta(hours=24)
ANONYMOUS = 0
PURPOSE = "idempotency-response"

PARAMETER = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY},
    "description": (
        "a key of the client's choosing (a UUID, say): a retry with the same key and body answers what the "
        "first request answered instead of creating again; another body with the same key is refused (422)"
    ),
}


def idempotent(view: F) -> F:
    """Honour ``Idempotency-Key`` on this creating view (and document the header)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        caller = current_user.id if current_user.is_authenticated else ANONYMOUS
        _check(key, caller)
        fingerprint = _fingerprint()
        replay = _reserve(caller, key, fingerprint)
        if replay is not None:
            return replay
        try:
            response = make_response(view(*args, **kwargs))
        except BaseException:
            db.session.rollback()
            _release(caller, key)
            raise
        if response.status_code >= 400:
            db.session.rollback()
            _release(caller, key)
        else:
            _store(caller, key, response)
        return response

    documented = Blueprint.doc(parameters=[PARAMETER])(wrapper)
    return documented


def _check(key: str, caller: int) -> None:
    shortest = MIN_ANONYMOUS_KEY if caller == ANONYMOUS else 1
    if not shortest <= len(key) <= MAX_KEY or not key.isprintable():
        raise DomainError(
            _(
                "The Idempotency-Key must be %(min)d to %(max)d printable characters.",
                min=shortest,
                max=MAX_KEY,
            ),
            errors={HEADER: [_("Invalid.")]},
            code="idempotency_key_invalid",
        )


def _fingerprint() -> str:
    # the query is part of the request: an upload names its fields there (the body is the file)
    digest = hashlib.sha256(f"{request.method} {request.path}?".encode() + request.query_string + b"\n")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _reserve(caller: int, key: str, fingerprint: str) -> Response | None:
    """Reserve the key (committed: every worker sees it) or answer the request that holds it."""
    moment = security_now()
    db.session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.user_id == caller, IdempotencyKey.expires_at <= moment)
    )
    db.session.add(
        IdempotencyKey(
            user_id=caller, key=key, request_hash=fingerprint, created_at=moment, expires_at=moment + KEEP
        )
    )
    try:
        db.session.commit()
        return None
    except IntegrityError:
        db.session.rollback()
    row = db.session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.user_id == caller, IdempotencyKey.key == key)
    )
    if row is None or row.status_code is None or row.response_enc is None:
        raise Conflict(
            _("A request with this Idempotency-Key is still being processed; retry in a moment."),
            code="idempotency_in_progress",
        )
    if row.request_hash != fingerprint:
        raise DomainError(
            _("This Idempotency-Key was used for a different request; use a new key."),
            errors={HEADER: [_("Already used.")]},
            code="idempotency_key_reused",
        )
    body = decrypt_at_rest(row.response_enc, purpose=PURPOSE)
    replay = Response(body, status=row.status_code, mimetype="application/json")
    replay.headers["Idempotent-Replayed"] = "true"
    return replay


def reencrypt_responses(*, batch: int) -> int:
    """``flask keys rotate-data``: the stored answers under the current data key."""
    from .crypto import reencrypt_column

    return reencrypt_column(IdempotencyKey.response_enc, PURPOSE, batch=batch)


def _release(caller: int, key: str) -> None:
    db.session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.user_id == caller,
            IdempotencyKey.key == key,
            IdempotencyKey.status_code.is_(None),
        )
    )
    db.session.commit()


def _store(caller: int, key: str, response: Response) -> None:
    row = db.session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.user_id == caller, IdempotencyKey.key == key)
    )
    if row is not None:
        row.status_code = response.status_code
        row.response_enc = encrypt_at_rest(response.get_data(), purpose=PURPOSE)
        db.session.commit()
