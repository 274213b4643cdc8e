"""Flask extensions, created once and initialised in ``create_app``."""

from __future__ import annotations

from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_wtf import CSRFProtect

from app.core.db import db

__all__ = ["api", "babel", "csrf", "db", "limiter", "login_manager", "migrate"]


def _client_ip() -> str:
    return request.remote_addr or "unknown"


login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
migrate = Migrate()
api = Api()
limiter = Limiter(key_func=_client_ip, default_limits=[], headers_enabled=True)
