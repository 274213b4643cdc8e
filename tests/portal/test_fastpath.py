"""The portal's fast path (app.portal.fastpath): a cached page for an anonymous visitor is answered before
the request pipeline with the very response the pipeline gave, and never to anyone the pipeline would
answer differently."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.core.clock import clock
from app.portal import cache
from app.portal.fastpath import FastPath
from app.projects import services
from tests.factories import make_user

from .conftest import T0, Portal

RID = {"X-Request-Id": "fast-path-test"}


@pytest.fixture
def pipeline(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests that went through the full pipeline (behind the fast path)."""
    fast = app.wsgi_app
    assert isinstance(fast, FastPath)
    inner = fast.wsgi_app
    calls: list[str] = []

    def counting(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    monkeypatch.setattr(fast, "wsgi_app", counting)
    return calls


def _same(a: TestResponse, b: TestResponse) -> None:
    assert a.status == b.status
    assert a.headers.to_wsgi_list() == b.headers.to_wsgi_list()
    assert a.get_data() == b.get_data()


def test_a_hit_is_the_full_pipelines_response_byte_for_byte(
    portal: Portal, client: FlaskClient, pipeline: list[str]
) -> None:
    section = portal.publish(name="快速一标段")
    clock.freeze(T0)  # the footer's server clock is the one part filled per request
    for path in (
        "/portal/",
        "/portal/announcements",
        "/portal/announcements?category=engineering_construction&page=1",
        f"/portal/sections/{section.id}",
        "/portal/catalogue",
        "/portal/results/awards",
    ):
        pipeline.clear()
        rendered = client.get(path, headers=RID)  # full pipeline, page rendered
        assert rendered.status_code == 200, path
        fast = client.get(path, headers=RID)
        assert pipeline == [path.split("?")[0]], path  # the second one never reached the pipeline
        _same(rendered, fast)
        cache.responses.clear()
        from_page_cache = client.get(path, headers=RID)  # full pipeline, page from the page cache
        _same(from_page_cache, fast)
        assert "Set-Cookie" not in fast.headers
        for name in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"):
            assert fast.headers[name]
        head = client.head(path, headers=RID)
        assert head.get_data() == b"" and head.headers.to_wsgi_list() == fast.headers.to_wsgi_list()
        assert len(pipeline) == 2, path


def test_the_fast_path_sets_its_own_request_id_and_server_clock(
    portal: Portal, client: FlaskClient, pipeline: list[str]
) -> None:
    clock.freeze(T0)
    client.get("/portal/")
    clock.freeze(T0.replace(minute=7, second=5))
    fast = client.get("/portal/", headers={"X-Request-Id": "other"})
    assert pipeline == ["/portal/"]
    assert fast.headers["X-Request-Id"] == "other"
    assert "09:07:05" in fast.get_data(as_text=True)
    assert int(fast.headers["Content-Length"]) == len(fast.get_data())
    generated = client.get("/portal/").headers["X-Request-Id"]
    assert generated and generated != "other"


def test_cookies_authorization_and_other_methods_always_go_through_the_pipeline(
    portal: Portal, app: Flask, client: FlaskClient, pipeline: list[str]
) -> None:
    section = portal.publish(name="快速二标段")
    path = f"/portal/sections/{section.id}"
    client.get(path)
    client.get(path)
    assert pipeline == [path]
    raw = app.test_client(use_cookies=False)  # sends the Cookie header as given
    for headers in ({"Cookie": "session=anything"}, {"Cookie": "other=1"}, {"Authorization": "Bearer x"}):
        pipeline.clear()
        assert raw.get(path, headers=headers).status_code == 200
        assert pipeline == [path], headers
    pipeline.clear()
    assert raw.get(path, data=b"x" * 10).status_code == 200  # a GET with a body: the pipeline's limits apply
    assert pipeline == [path]
    pipeline.clear()
    assert client.post(path).status_code == 405
    assert pipeline == [path]


def test_a_visitor_who_chose_english_never_gets_the_chinese_entry(
    portal: Portal, app: Flask, client: FlaskClient, pipeline: list[str]
) -> None:
    section = portal.publish(name="快速三标段")
    path = f"/portal/sections/{section.id}"
    anonymous = app.test_client()
    assert '<html lang="zh-CN">' in anonymous.get(path).get_data(as_text=True)
    with client.session_transaction() as sess:
        sess["locale"] = "en"
    english = client.get(path)
    assert '<html lang="en">' in english.get_data(as_text=True)
    assert pipeline == [path, path]
    # Pages choose their language from the visitor's choice only (not Accept-Language): the fast path
    # chooses the same as the pipeline does, so an English browser without a choice reads the Chinese page.
    browser = anonymous.get(path, headers={"Accept-Language": "en-US,en;q=0.9", **RID})
    assert '<html lang="zh-CN">' in browser.get_data(as_text=True)
    assert pipeline == [path, path]
    cache.responses.clear()
    _same(anonymous.get(path, headers={"Accept-Language": "en-US,en;q=0.9", **RID}), browser)


def test_a_forged_host_gets_and_poisons_no_other_hosts_entry(
    portal: Portal, client: FlaskClient, pipeline: list[str]
) -> None:
    section = portal.publish(name="快速四标段")
    path = f"/portal/sections/{section.id}"
    client.get(path)  # localhost's entry
    forged = client.get(path, headers={"Host": "evil.example", **RID})
    assert pipeline == [path, path]  # not localhost's entry
    assert "evil.example" in forged.get_data(as_text=True)
    again = client.get(path, headers={"Host": "evil.example", **RID})
    _same(again, forged)  # the forged host's own entry
    html = client.get(path).get_data(as_text=True)
    assert "evil.example" not in html and "http://localhost" in html
    assert pipeline == [path, path]


def test_a_state_change_invalidates_the_fast_path_as_it_does_the_page_cache(
    portal: Portal, client: FlaskClient, pipeline: list[str]
) -> None:
    portal.publish(name="快速五标段")
    client.get("/portal/announcements")
    assert "快速五标段" in client.get("/portal/announcements").get_data(as_text=True)
    assert pipeline == ["/portal/announcements"]
    portal.publish(name="快速六标段")
    assert "快速六标段" in client.get("/portal/announcements").get_data(as_text=True)
    assert pipeline == ["/portal/announcements"] * 2


def test_a_page_with_a_form_sets_a_cookie_and_is_never_stored(
    portal: Portal, app: Flask, pipeline: list[str]
) -> None:
    draft = services.create_catalogue_version(actor=make_user("manager"), title="2027 交易目录（征求意见稿）")
    services.open_catalogue_comment(draft, actor=make_user("manager"), days=10)
    path = f"/portal/catalogue/{draft.number}"
    visitors = app.test_client(use_cookies=False)  # each request a new visitor: no cookie sent
    for _ in range(2):
        resp = visitors.get(path)
        assert 'id="catalogue-comment"' in resp.get_data(as_text=True)
        assert "Set-Cookie" in resp.headers  # the form's token, in the visitor's session
    assert pipeline == [path, path]
    assert not cache.responses


def test_only_pages_without_a_rate_limit_are_handed_to_the_fast_path(app: Flask) -> None:
    """The fast path counts no rate limit: the cached portal pages have none today (no application or
    default limit either), and a page with one would not be stored."""
    for path in ("/portal/", "/portal/announcements", "/portal/sections/1", "/portal/catalogue"):
        with app.test_request_context(path):
            assert not cache._rate_limited(), path
    with app.test_request_context("/portal/verify/record"):
        assert cache._rate_limited()  # "60 per minute": the check sees a route's limit


def test_the_fast_path_logs_the_request_as_the_pipeline_does(
    portal: Portal, client: FlaskClient, pipeline: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    section = portal.publish(name="快速七标段")
    path = f"/portal/sections/{section.id}"
    with caplog.at_level(logging.INFO, logger="app.request"):
        client.get(path, headers=RID)
        client.get(path, headers=RID)
    assert pipeline == [path]
    lines = [re.sub(r"[\d.]+ms", "Nms", r.getMessage()) for r in caplog.records if r.name == "app.request"]
    assert lines == ["GET /portal/sections/<int:section_id> 200 Nms rid=fast-path-test"] * 2
    assert all(str(section.id) not in line for line in lines)  # the route, never the path
