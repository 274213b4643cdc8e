"""Form input of the supervision pages: unknown fields are ignored by the pages (CSRF token, buttons), only
the listed fields are read."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from app.core.errors import DomainError


class _Form(Schema):
    class Meta:
        unknown = EXCLUDE


class DecideAlertForm(_Form):
    action = fields.Str(required=True, validate=validate.OneOf(["acknowledge", "escalate", "dismiss"]))
    note = fields.Str(load_default="", validate=validate.Length(max=2000))


class SuspendForm(_Form):
    reason = fields.Str(required=True, validate=validate.Length(min=1, max=2000))


class ResumeForm(_Form):
    note = fields.Str(load_default="", validate=validate.Length(max=2000))


class NoticeForm(_Form):
    addressee_org_id = fields.Int(required=True)
    body = fields.Str(required=True, validate=validate.Length(min=1, max=5000))
    due_on = fields.Date(required=True)


class ResponseForm(_Form):
    response = fields.Str(required=True, validate=validate.Length(min=1, max=5000))


class WitnessKeyForm(_Form):
    public_key = fields.Str(required=True, validate=validate.Length(min=40, max=300))  # raw base64 or vkey


class CosignForm(_Form):
    signature = fields.Str(required=True, validate=validate.Length(min=80, max=400))  # C2SP line or legacy


class PeriodArgs(_Form):
    start = fields.Date(load_default=None)
    end = fields.Date(load_default=None)


class FilterArgs(_Form):
    industry = fields.Str(load_default="", validate=validate.Length(max=32))
    project = fields.Int(load_default=None)
    type = fields.Str(load_default="", validate=validate.Length(max=100))


def load(schema: Schema, data: Any) -> dict[str, Any]:
    try:
        return dict(schema.load(data))
    except ValidationError as err:
        messages = err.messages if isinstance(err.messages, dict) else {"_": err.messages}
        raise DomainError(
            _("Please correct the marked fields."),
            errors={k: [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in messages.items()},
        ) from None
