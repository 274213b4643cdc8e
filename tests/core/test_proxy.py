"""Behind nginx (PROXY_HOPS=1) the client address comes from X-Forwarded-For, so login rate limits and
audit leaves are per client rather than one shared bucket for the proxy; without it the header is ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import request

from app import create_app
from app.core.permissions import public


@pytest.mark.parametrize(("hops", "seen"), [(1, "203.0.113.7"), (0, "127.0.0.1")])
def test_forwarded_address_only_with_proxy_hops(tmp_path: Path, hops: int, seen: str) -> None:
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}",
            "RATELIMIT_STORAGE_URI": "memory://",
            "PROXY_HOPS": hops,
        }
    )

    @public
    def whoami() -> str:
        return f"{request.remote_addr} {request.scheme}"

    app.add_url_rule("/_whoami", "whoami", whoami)
    resp = app.test_client().get(
        "/_whoami", headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    )
    assert resp.get_data(as_text=True) == f"{seen} {'https' if hops else 'http'}"
