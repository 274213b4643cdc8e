"""Before the result is determined, ``/audit/`` (the management office and every regulator) shows no panel
member: the experts signing in and declaring, the tenderer naming its representative, and the
representative acting on the panel are leaves without actor, object or payload ("not shown yet")."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from app.core.permissions import Role
from tests.evaluation.conftest import open_trade
from tests.evaluation.test_panel_composition import _client, _name, _sign_in
from tests.factories import csrf_token, make_user
from tests.projects.conftest import World

ROW = re.compile(r'<td data-action="([^"]+)">[^<]*</td>\s*<td>(.*?)</td>', re.S)


def test_the_audit_log_names_no_panel_member_before_the_result(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"], panel=5, pool=4)
    experts = trade.panel_users()
    for user in experts:
        _sign_in(app, trade, user)
    _name(app, trade, world.agent, world.tenderer)
    rc = _client(app, world.tenderer)
    path = f"/evaluation/sections/{trade.section.id}"
    rc.post(f"{path}/sign-in", data={"csrf_token": csrf_token(rc, path), "declaration": "no_conflict"})
    for reader in (make_user(Role.MANAGER), make_user(Role.REGULATOR)):
        html = _client(app, reader).get("/audit/").get_data(as_text=True)
        for user in experts:
            assert user.display_name not in html
        rows = ROW.findall(html)
        panel_rows = [(a, who) for a, who in rows if a.startswith(("evaluation:", "experts:seat:"))]
        assert panel_rows
        for action, who in panel_rows:
            assert world.tenderer.display_name not in who and world.agent.display_name not in who, action
        assert any(a == "evaluation:representative:name" for a, _ in panel_rows)
