"""The JSON API: OpenAPI document, one error shape, token-only CSRF exemption."""

from __future__ import annotations

from tests.factories import login, make_user


def test_openapi_document_lists_the_api(client):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    doc = resp.json
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/me" in doc["paths"]
    assert "bearer" in doc["components"]["securitySchemes"]


def test_errors_share_one_shape(client):
    resp = client.get("/api/v1/me")
    assert resp.status_code == 401
    assert set(resp.json) == {"code", "status", "message", "errors"}
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert set(missing.json) == {"code", "status", "message", "errors"}


def test_api_messages_follow_accept_language_and_default_to_chinese(client):
    assert client.get("/api/v1/me").json["message"] == "请先登录。"
    english = client.get("/api/v1/me", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert english.json["message"] == "Please sign in."
    assert (
        client.get("/api/v1/me", headers={"Accept-Language": "zh-CN,en;q=0.5"}).json["message"]
        == "请先登录。"
    )
    # pages stay Chinese by default whatever the browser sends (the language switch changes them)
    assert "登录" in client.get("/auth/login", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_validation_error_is_422_with_field_errors(client, db_session):
    user = make_user("regulator")
    login(client, user)
    resp = client.get("/api/v1/audit/proofs/consistency?old=abc&new=2")
    assert resp.status_code == 422
    assert resp.json["code"] == "unprocessable_entity"
    assert "old" in str(resp.json["errors"])


def test_cookie_authenticated_api_post_needs_csrf(client, db_session):
    user = make_user("bidder")
    login(client, user)
    resp = client.post("/api/v1/me")
    assert resp.status_code in {400, 405}


def test_health_is_public(client):
    assert client.get("/api/v1/health").json == {"status": "ok"}


def test_nul_characters_are_refused_before_reaching_the_database(client, db_session):
    """PostgreSQL cannot store NUL in text; such input gets a clear 422, never a failed transaction."""
    user = make_user("bidder")
    login(client, user)
    # A route the bidder may use (nothing is parsed for a route that does not exist or is not allowed).
    resp = client.post("/api/v1/bidding/sections/1/objections", json={"body": "a\x00b"})
    assert resp.status_code == 422
    assert resp.json["code"] == "unprocessable_entity"
    page = client.get("/portal/announcements?q=%00")
    assert page.status_code == 422


def test_an_unreachable_database_is_a_503_asking_to_retry(client, db_session, monkeypatch):
    """What a PostgreSQL restart looks like to a client (tests/test_faults_crash.py does it for real)."""
    from sqlalchemy.exc import OperationalError

    from app.portal import cache, services

    def down(*_args, **_kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(services, "public_section", down)
    monkeypatch.setattr(services, "latest_announcements", down)
    cache.clear()
    api = client.get("/api/v1/public/sections/1")
    assert api.status_code == 503 and api.headers["Retry-After"] == "5"
    body = api.get_json()
    assert body["status"] == 503 and body["code"] == "service_unavailable" and "重试" in body["message"]
    page = client.get("/portal/")
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    assert "数据库暂时无法连接" in page.get_data(as_text=True)
