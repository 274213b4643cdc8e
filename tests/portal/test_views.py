"""The public portal: pages in Chinese and English without login, search and filters, drafts never shown,
documents (published versions only), amendments, timeline, cancellation, catalogue, results pages, feed."""

from __future__ import annotations

import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
from typing import Any

from flask.testing import FlaskClient

from app.core.clock import clock
from app.projects import services
from app.projects.enums import SectionStatus
from tests.portal.conftest import T0, Portal, cst

ATOM = "{http://www.w3.org/2005/Atom}"


def _english(client: FlaskClient) -> None:
    with client.session_transaction() as sess:
        sess["locale"] = "en"


def test_pages_open_without_login_in_chinese_and_english(portal: Portal, client: FlaskClient) -> None:
    section = portal.publish(name="道路一标段")
    for path in ("/portal/", "/portal/announcements", f"/portal/sections/{section.id}", "/portal/catalogue"):
        resp = client.get(path)
        assert resp.status_code == 200, path
        html = resp.get_data(as_text=True)
        assert '<html lang="zh-CN">' in html
        assert "公共资源交易平台" in html
    assert "道路一标段" in client.get("/portal/announcements").get_data(as_text=True)

    _english(client)
    html = client.get(f"/portal/sections/{section.id}").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Tender documents" in html and "Status timeline" in html
    assert "道路一标段" in html  # the data stays as published


def test_anonymous_header_links_the_portal_from_the_sign_in_page(client: FlaskClient) -> None:
    html = client.get("/auth/login").get_data(as_text=True)
    assert 'href="/portal/"' in html


def test_drafts_are_never_public(portal: Portal, client: FlaskClient) -> None:
    portal.publish(name="已发布标段")
    draft = portal.draft(name="草稿标段XYZ")
    assert client.get(f"/portal/sections/{draft.id}").status_code == 404
    assert client.get(f"/api/v1/public/sections/{draft.id}").status_code == 404
    assert client.get(f"/api/v1/public/sections/{draft.id}/ocds/release-package").status_code == 404
    draft_doc = draft.documents[0]
    assert client.get(f"/portal/sections/{draft.id}/documents/{draft_doc.id}").status_code == 404
    for path in ("/portal/", "/portal/announcements?q=草稿", "/portal/feed.atom", "/api/v1/public/sections"):
        body = client.get(path).get_data(as_text=True)
        assert "草稿标段XYZ" not in body, path
    assert "已发布标段" in client.get("/portal/announcements").get_data(as_text=True)


def test_search_and_filters(portal: Portal, client: FlaskClient) -> None:
    road = portal.publish(name="道路标段")
    clock.freeze(T0 + dt.timedelta(days=3))
    desks = portal.publish(
        portal.goods,
        name="课桌椅包",
        docs_available_from=cst(2026, 3, 5, 9, 0),
        docs_available_until=cst(2026, 3, 12, 17, 0),
        bid_deadline=cst(2026, 3, 26, 9, 30),
    )

    def names(query: str) -> set[str]:
        html = client.get(f"/portal/announcements?{query}").get_data(as_text=True)
        return {n for n in ("道路标段", "课桌椅包") if n in html}

    assert names("") == {"道路标段", "课桌椅包"}
    assert names("q=课桌") == {"课桌椅包"}
    assert names(f"q={road.code}") == {"道路标段"}
    assert names("q=道路改造") == {"道路标段"}  # the project name matches too
    assert names("q=100%25") == set()  # LIKE wildcards are literal
    assert names("category=government_procurement") == {"课桌椅包"}
    assert names("category=engineering_construction") == {"道路标段"}
    assert names("region=崇川区") == {"道路标段"}
    assert names("status=published") == {"道路标段", "课桌椅包"}
    assert names("status=cancelled") == set()
    assert names("from=2026-03-04") == {"课桌椅包"}
    assert names("to=2026-03-02") == {"道路标段"}
    assert names("from=2026-03-02&to=2026-03-05&category=government_procurement") == {"课桌椅包"}
    # A malformed filter is reported and ignored, not a server error.
    resp = client.get("/portal/announcements?from=yesterday&category=bogus")
    assert resp.status_code == 200
    assert desks.code in resp.get_data(as_text=True)
    # The form as a browser submits it: every field present, the unused ones empty.
    assert names("q=课桌&category=&status=&region=&from=&to=") == {"课桌椅包"}
    assert names("q=道路&category=engineering_construction&status=&region=&from=&to=") == {"道路标段"}


def test_an_unusable_filter_is_explained_next_to_its_field_and_the_rest_applies(
    portal: Portal, client: FlaskClient
) -> None:
    portal.publish(name="道路标段")
    portal.publish(portal.goods, name="课桌椅包")
    resp = client.get("/portal/announcements?q=课桌&category=bogus&from=yesterday&status=")
    html = resp.get_data(as_text=True)
    assert "课桌椅包" in html and "道路标段" not in html  # the keyword still filters
    assert 'id="category-error">请从列表中选择类别。<' in html
    assert 'id="from-error">' in html and 'id="status-error"' not in html
    for code in ("category", "from", "已忽略"):  # no field codes in the visible text
        assert code not in re.sub(r"<[^>]+>", " ", html.split("<main", 1)[1]), code
    reversed_range = client.get("/portal/announcements?from=2026-03-05&to=2026-03-01").get_data(as_text=True)
    assert 'id="to-error"' in reversed_range and 'id="from-error"' not in reversed_range
    # a mistyped year at either end of the calendar is explained the same way, never a server error
    for query in (
        "from=0001-01-01",
        "to=9999-12-31",
        "from=9999-12-31&to=9999-12-31",
        "q=道路&from=0001-01-01",
    ):
        resp = client.get(f"/portal/announcements?{query}")
        assert resp.status_code == 200, query
        html = resp.get_data(as_text=True)
        assert 'id="from-error">' in html or 'id="to-error">' in html, query
    assert "道路标段" in html  # the rest of the search still applies


def test_pagination(portal: Portal, client: FlaskClient) -> None:
    for i in range(23):
        portal.publish(name=f"分页标段{i:02d}")
    first = client.get("/portal/announcements").get_data(as_text=True)
    second = client.get("/portal/announcements?page=2").get_data(as_text=True)
    on_first = {i for i in range(23) if f"分页标段{i:02d}" in first}
    on_second = {i for i in range(23) if f"分页标段{i:02d}" in second}
    assert len(on_first) == 20 and len(on_second) == 3
    assert on_first.isdisjoint(on_second)
    assert "1 / 2" in first
    # The pager keeps the search and filters.
    html = client.get("/portal/announcements?q=分页&category=engineering_construction").get_data(as_text=True)
    nxt = re.search(r'<a href="([^"]*page=2[^"]*)"', html)
    assert nxt is not None and "category=engineering_construction" in nxt.group(1) and "q=" in nxt.group(1)


def test_detail_shows_documents_amendments_timeline_and_cancellation(
    portal: Portal, client: FlaskClient
) -> None:
    section = portal.publish(name="道路标段")
    first_doc = next(d for d in section.documents if d.published_at is not None)
    # An amendment with a new document version; an unpublished upload stays invisible until published.
    clock.freeze(T0 + dt.timedelta(days=2))
    services.add_document(
        section,
        actor=portal.agent,
        name="招标文件",
        filename="tender-v2.pdf",
        content_type="application/pdf",
        stream=io.BytesIO(b"%PDF-1.4 second version"),
    )
    pending = services.pending_documents(section)[0]
    html = client.get(f"/portal/sections/{section.id}").get_data(as_text=True)
    assert "tender-v2.pdf" not in html
    assert client.get(f"/portal/sections/{section.id}/documents/{pending.id}").status_code == 404

    services.publish_amendment(
        section,
        actor=portal.agent,
        title="关于工期的澄清",
        body="工期调整为 300 日历天。",
        affects_bids=True,
        notice_text=section.notice_text + "四、工期：300 日历天\n",
    )
    html = client.get(f"/portal/sections/{section.id}").get_data(as_text=True)
    assert "关于工期的澄清" in html
    assert "+四、工期：300 日历天" in html  # the diff
    assert "tender-v2.pdf" in html and first_doc.sha256 in html
    with client.get(f"/portal/sections/{section.id}/documents/{first_doc.id}") as download:
        assert download.status_code == 200
        assert download.data == b"%PDF-1.4 tender"
        assert download.headers["X-Content-SHA256"] == first_doc.sha256

    clock.freeze(T0 + dt.timedelta(days=3))
    services.suspend_section(section, actor=portal.regulator, reason="收到异议，暂停招标活动")
    html = client.get(f"/portal/sections/{section.id}").get_data(as_text=True)
    assert "收到异议，暂停招标活动" in html
    # resume_section sets ended_at before reading actor.id; an expired actor would autoflush in between
    # (reported to app/projects). Load it first, as a fresh request would.
    assert portal.regulator.id
    services.resume_section(section, actor=portal.regulator, note="异议已答复")
    services.cancel_section(section, actor=portal.agent, reason="项目规划调整，终止招标")
    html = client.get(f"/portal/sections/{section.id}").get_data(as_text=True)
    assert "项目规划调整，终止招标" in html
    cancelled = client.get("/portal/results/cancelled").get_data(as_text=True)
    assert "道路标段" in cancelled
    assert "道路标段" not in client.get("/portal/results/awards").get_data(as_text=True)


def test_results_pages_list_sections_in_their_states(portal: Portal, client: FlaskClient) -> None:
    section = portal.publish(name="开标标段")
    for kind in ("openings", "candidates", "awards", "failed", "cancelled"):
        resp = client.get(f"/portal/results/{kind}")
        assert resp.status_code == 200
        assert "开标标段" not in resp.get_data(as_text=True)
    assert client.get("/portal/results/nonsense").status_code == 404
    clock.freeze(cst(2026, 3, 23, 10, 0))
    services.transition(section, SectionStatus.BIDDING_CLOSED, actor=None)
    services.transition(section, SectionStatus.OPENING, actor=None)
    services.transition(section, SectionStatus.OPENED, actor=None)
    assert "开标标段" in client.get("/portal/results/openings").get_data(as_text=True)
    assert "开标标段" not in client.get("/portal/results/awards").get_data(as_text=True)


def test_catalogue_current_and_history(portal: Portal, client: FlaskClient) -> None:
    html = client.get("/portal/catalogue").get_data(as_text=True)
    assert "2026 交易目录" in html
    assert "GC-01" in html and "ZC-01" in html
    number = portal.catalogue.number
    assert client.get(f"/portal/catalogue/{number}").status_code == 200
    assert client.get("/portal/catalogue/99999").status_code == 404


def test_atom_feed_contains_a_just_published_announcement(portal: Portal, client: FlaskClient) -> None:
    before = client.get("/portal/feed.atom")
    assert before.status_code == 200
    section = portal.publish(name="刚发布标段")
    resp = client.get("/portal/feed.atom")
    assert resp.mimetype == "application/atom+xml"
    root = ET.fromstring(resp.data)  # noqa: S314 — our own server's output, not untrusted input
    assert root.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated"):
        assert root.find(f"{ATOM}{required}") is not None
    entries = root.findall(f"{ATOM}entry")
    mine = [e for e in entries if "刚发布标段" in (e.findtext(f"{ATOM}title") or "")]
    assert len(mine) == 1
    entry = mine[0]
    assert (entry.findtext(f"{ATOM}id") or "").startswith("tag:")
    assert (entry.findtext(f"{ATOM}id") or "").endswith(f":section/{section.id}")
    updated = dt.datetime.fromisoformat(entry.findtext(f"{ATOM}updated") or "")
    assert updated.tzinfo is not None
    link = entry.find(f"{ATOM}link")
    assert link is not None and link.get("href", "").endswith(f"/portal/sections/{section.id}")
    # Every entry has the elements RFC 4287 requires.
    for e in entries:
        assert e.findtext(f"{ATOM}id") and e.findtext(f"{ATOM}title") and e.findtext(f"{ATOM}updated")


def test_portal_never_reveals_who_obtained_documents(portal: Portal, client: FlaskClient) -> None:
    from tests.factories import make_org, make_user

    bidder_org = make_org("bidder", name="保密投标人甲公司")
    bidder = make_user("bidder", bidder_org)
    section = portal.publish(name="保密标段")
    services.obtain_documents(section, actor=bidder)
    paths = [
        "/portal/",
        "/portal/announcements",
        f"/portal/sections/{section.id}",
        "/portal/feed.atom",
        "/api/v1/public/sections",
        f"/api/v1/public/sections/{section.id}",
        f"/api/v1/public/sections/{section.id}/ocds/release-package",
        f"/api/v1/public/sections/{section.id}/ocds/record-package",
    ]
    for path in paths:
        body = client.get(path).get_data(as_text=True)
        assert "保密投标人甲公司" not in body, path
        assert bidder.username not in body, path


def test_the_public_comments_on_a_catalogue_version_during_its_comment_period(
    portal: Portal, client: FlaskClient, app: Any
) -> None:
    from tests.factories import csrf_token, make_user

    manager = make_user("manager")
    draft = services.create_catalogue_version(actor=manager, title="2027 交易目录（征求意见稿）")
    services.open_catalogue_comment(draft, actor=manager, days=10)
    path = f"/portal/catalogue/{draft.number}"
    html = client.get(path).get_data(as_text=True)
    assert 'id="catalogue-comment"' in html
    app.config["PORTAL_COMMENT_RATE_LIMIT"] = "1000 per minute"
    try:
        token = csrf_token(client, path)
        form = {"author_name": "市民张三", "body": "建议增加农村集体资产交易事项。", "csrf_token": token}
        resp = client.post(f"{path}/comments", data=form)
        assert resp.status_code == 302
        assert len(draft.comments) == 1 and draft.comments[0].author_name == "市民张三"
        assert draft.comments[0].user_id is None
        # Without the CSRF token the comment is refused.
        assert client.post(f"{path}/comments", data={"author_name": "x", "body": "y"}).status_code == 400
        # The version in force is not open for comment: refused with a message, nothing stored.
        resp = client.post(
            f"/portal/catalogue/{portal.catalogue.number}/comments",
            data={"author_name": "x", "body": "y", "csrf_token": token},
        )
        assert resp.status_code == 302 and not portal.catalogue.comments
    finally:
        app.config.pop("PORTAL_COMMENT_RATE_LIMIT", None)


def test_missing_public_pages_say_so_in_the_readers_language(portal: Portal, client: FlaskClient) -> None:
    """A stale link to an announcement, a document or a catalogue version gets a 404 in Chinese (in English
    when chosen), never the code's English sentence on a Chinese page."""
    section = portal.publish(name="道路二标段")
    cases = {
        "/portal/sections/999999": ("没有该公告。", "No such announcement."),
        f"/portal/sections/{section.id}/documents/999999": ("没有该文件。", "No such document."),
        "/portal/catalogue/999999": ("没有该版本的交易目录。", "No such catalogue version."),
    }
    for path, (chinese, english) in cases.items():
        resp = client.get(path)
        assert resp.status_code == 404, path
        html = resp.get_data(as_text=True)
        assert chinese in html and english not in html, path
    _english(client)
    for path, (_chinese, english) in cases.items():
        assert english in client.get(path).get_data(as_text=True), path


def test_a_password_alone_never_comments_in_an_accounts_name(
    portal: Portal, client: FlaskClient, app: Any
) -> None:
    """Someone who knows a regulator's password but not its second factor is half signed in: the public
    comment form takes the comment as a member of the public's, never under the regulator's account and name
    (nor with the regulator as the audit leaf's actor)."""
    from sqlalchemy import select

    from app.core.db import db
    from app.core.models import AuditLeaf
    from tests.factories import csrf_token, login, make_user

    manager = make_user("manager")
    draft = services.create_catalogue_version(actor=manager, title="2027 交易目录（征求意见稿）")
    services.open_catalogue_comment(draft, actor=manager, days=10)
    regulator = make_user("regulator")
    login(client, regulator, mfa=False)  # the password only: the second factor is still asked for
    path = f"/portal/catalogue/{draft.number}"
    app.config["PORTAL_COMMENT_RATE_LIMIT"] = "1000 per minute"
    try:
        token = csrf_token(client, path)
        form = {"author_name": "市民张三", "body": "建议增加农村集体资产交易事项。", "csrf_token": token}
        assert client.post(f"{path}/comments", data=form).status_code == 302
    finally:
        app.config.pop("PORTAL_COMMENT_RATE_LIMIT", None)
    assert len(draft.comments) == 1
    comment = draft.comments[0]
    assert comment.user_id is None and comment.author_name == "市民张三"
    leaf = db.session.scalars(
        select(AuditLeaf)
        .where(AuditLeaf.action == "projects:catalogue:comment")
        .order_by(AuditLeaf.idx.desc())
    ).first()
    assert leaf is not None and leaf.actor_id != regulator.id
