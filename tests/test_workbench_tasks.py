"""The workbench task list on the demo city (runs on SQLite and PostgreSQL): each role sees what needs it,
soonest first, with the time left in words from the business clock."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Flask
from flask_babel import force_locale
from sqlalchemy import select

from app import demo
from app.accounts.models import User
from app.core.clock import clock
from app.workbench.tasks import tasks_for
from tests.projects.conftest import T0


def test_each_role_sees_what_needs_it(app: Flask, db_session: Any, tmp_path: Path) -> None:
    saved = {k: app.config[k] for k in ("INSTANCE_PATH", "BLOB_DIR")}
    app.config["INSTANCE_PATH"] = str(tmp_path / "instance")
    app.config["BLOB_DIR"] = str(tmp_path / "blobs")
    try:
        clock.freeze(T0)
        with app.test_request_context(), force_locale("zh_CN"):
            demo.seed()
            users = {u.username: u for u in db_session.scalars(select(User))}
            bidder = tasks_for(users["bidder1"])
            assert [t.kind for t in bidder] == ["bid"]
            assert re.search(r"还剩 \d+ 天", str(bidder[0].left))
            regulator = tasks_for(users["regulator"])
            kinds = {t.kind for t in regulator}
            assert {"case", "draw"} <= kinds
            for t in regulator:
                if t.kind == "case":
                    assert re.fullmatch(r"剩余 \d+ 个工作日|今日到期|已逾期 \d+ 个工作日", str(t.left)), t
            due = [t.due for t in regulator if t.due is not None]
            assert due == sorted(due)  # soonest first
            tenderer = tasks_for(users["tenderer"])
            assert tenderer and {t.title for t in tenderer if t.kind == "case"} <= {"答复异议"}
            assert tasks_for(users["expert"]) == []
    finally:
        clock.reset()
        app.config.update(saved)
