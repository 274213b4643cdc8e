"""Flask extensions, created once and initialised in ``create_app``."""

from __future__ import annotations

from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_smorest import Api as _SmorestApi
from flask_wtf import CSRFProtect
from marshmallow import Schema, fields

from app.core.db import db

__all__ = ["DECIMAL_STRING", "api", "babel", "csrf", "db", "limiter", "login_manager"]

# OpenAPI metadata of a ``fields.Decimal(as_string=True)``: apispec documents every Decimal as a number,
# but money goes over the wire as an exact string ("9800000.00").
DECIMAL_STRING = {"type": "string", "format": "decimal"}


class ErrorSchema(Schema):
    """The one JSON error shape (``app.core.errors.error_body``), as the OpenAPI document declares it for
    every operation's ``default`` and error responses. flask-smorest's own has ``code`` as the integer."""

    code = fields.String(required=True, metadata={"description": "Machine-readable error code"})
    status = fields.Integer(required=True, metadata={"description": "HTTP status"})
    message = fields.String(required=True, metadata={"description": "Message for the user"})
    errors = fields.Dict(required=True, metadata={"description": "Messages per field"})


class Api(_SmorestApi):
    ERROR_SCHEMA = ErrorSchema


def _client_ip() -> str:
    return request.remote_addr or "unknown"


login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
api = Api()
limiter = Limiter(key_func=_client_ip, default_limits=[], headers_enabled=True)
