"""Public resource e-trading platform (公共资源电子交易平台).

``create_app`` loads configuration, initialises extensions and registers each domain. It runs no queries,
no migrations and touches no network.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported inside create_app: the offline tools (ggzy-audit, ggzy-bid) run without Flask
    from flask import Flask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    # Everything the platform writes (the SQLite database, secrets, blobs, temp files, demo logins) is for
    # the service account alone: files 0600, folders 0700, whatever umask the process was started with.
    from app.config import load_config
    from app.core.platform_flask import PlatformFlask

    os.umask(int(os.environ.get("FILE_UMASK", "077"), 8))
    app = PlatformFlask(__name__, instance_relative_config=True)
    app.config.update(load_config(app.instance_path, config))
    app.instance_path = app.config["INSTANCE_PATH"]

    from app.core import web

    web.init_app(app)

    from app import (
        accounts,
        auctions,
        bidding,
        complaints,
        contracts,
        demo,
        evaluation,
        exchange,
        experts,
        portal,
        projects,
        supervision,
        workbench,
    )
    from app.core import audit_views, calendar_views, cli, democlock

    domains = (
        accounts,
        projects,
        bidding,
        experts,
        evaluation,
        complaints,
        contracts,
        auctions,
        supervision,
        portal,
        exchange,
        workbench,
    )
    for module in (*domains, audit_views, calendar_views, cli, democlock, demo):
        module.init_app(app)
    web.check_declared_permissions(app)
    return app
