"""Kernel command-line tools: audit log, outbox delivery, calendar overrides."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from app.core import audit_cli

    audit_cli.init_cli(app)
