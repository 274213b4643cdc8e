"""Obtaining documents (获取招标文件) and its confidentiality: the bidder sees its own registration, center
staff see a count, tenderers, other bidders and regulators learn nothing."""

from __future__ import annotations

import io
from typing import Any

import pytest

from app.core.clock import clock
from app.core.errors import Conflict
from app.core.permissions import Role
from app.projects import services
from app.projects.models import Section
from tests.factories import csrf_token, login, make_user
from tests.projects.conftest import World, cst, draft_section


@pytest.fixture
def published(app: Any, world: World) -> Any:
    with app.test_request_context():
        section = draft_section(world)
        services.publish_section(section, actor=world.agent)
        yield section


def _obtain(client: Any, section: Section) -> Any:
    page = f"/projects/tenders/{section.id}"
    return client.post(f"{page}/obtain", data={"csrf_token": csrf_token(client, page)})


def test_bidder_obtains_then_downloads_with_hash(client: Any, world: World, published: Section) -> None:
    bidder = make_user(Role.BIDDER)
    login(client, bidder)
    doc = published.current_documents[0]
    assert client.get(f"/projects/documents/{doc.id}").status_code == 404  # not obtained yet
    assert _obtain(client, published).status_code == 302
    page = client.get(f"/projects/tenders/{published.id}").get_data(as_text=True)
    assert 'id="obtained"' in page
    resp = client.get(f"/projects/documents/{doc.id}")
    assert resp.status_code == 200
    assert resp.data == b"%PDF-1.4 tender documents"
    assert resp.headers["X-Content-SHA256"] == doc.sha256
    resp.close()
    assert _obtain(client, published).status_code == 302  # twice is harmless
    assert services.obtainment_count(published) == 1


def test_documents_only_during_the_sale_period(app: Any, world: World, published: Section) -> None:
    bidder = make_user(Role.BIDDER)
    clock.freeze(cst(2026, 3, 9, 17, 1))
    with app.test_request_context(), pytest.raises(Conflict):
        services.obtain_documents(published, actor=bidder)


def test_who_obtained_is_confidential(client: Any, world: World, published: Section) -> None:
    first, second = make_user(Role.BIDDER), make_user(Role.BIDDER)
    with client.application.test_request_context():
        mine, _new = services.obtain_documents(published, actor=first)
        services.obtain_documents(published, actor=second)
    receipt = f"/projects/obtainments/{mine.id}"

    login(client, first)
    assert client.get(receipt).status_code == 200
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/workbench")})

    # another bidder: 404 on the receipt, and its own tender page says nothing about the others
    other = make_user(Role.BIDDER)
    login(client, other)
    assert client.get(receipt).status_code == 404
    page = client.get(f"/projects/tenders/{published.id}").get_data(as_text=True)
    assert first.organization.name not in page and 'id="obtained-count"' not in page
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/workbench")})

    # the tenderer: no route to the receipt (403), no count on its section page
    login(client, world.agent)
    assert client.get(receipt).status_code == 403
    page = client.get(f"/projects/sections/{published.id}").get_data(as_text=True)
    assert 'id="obtained-count"' not in page
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/workbench")})

    # the regulator: nothing either
    login(client, world.regulator)
    assert client.get(receipt).status_code == 403
    assert 'id="obtained-count"' not in client.get(f"/projects/sections/{published.id}").get_data(
        as_text=True
    )
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/workbench")})

    # center staff: a count, no names
    login(client, world.staff)
    assert client.get(receipt).status_code == 403
    page = client.get(f"/projects/sections/{published.id}").get_data(as_text=True)
    assert 'id="obtained-count">2<' in page
    assert first.organization.name not in page and second.organization.name not in page


def test_audit_log_does_not_tell_which_section_a_bidder_obtained(
    app: Any, world: World, db_session: Any
) -> None:
    from sqlalchemy import select

    from app.core.models import AuditLeaf

    bidder = make_user(Role.BIDDER)
    with app.test_request_context():
        section = draft_section(world)
        services.publish_section(section, actor=world.agent)
        row, _new = services.obtain_documents(section, actor=bidder)
        services.record_download(section.documents[0], actor=bidder)
    leaves = db_session.scalars(select(AuditLeaf).where(AuditLeaf.actor_id == bidder.id)).all()
    assert [(leaf.action, leaf.object_type, leaf.object_id) for leaf in leaves] == [
        ("projects:documents:obtain", "document_obtainment", str(row.id))
    ]
    assert str(section.id) not in leaves[0].payload and section.code not in leaves[0].payload
    from app.core.audit_sealing import view_of

    shown = view_of(leaves[0])
    assert shown.sealed and shown.actor_id is None and shown.org_id is None and shown.object_id is None


def test_draft_sections_are_invisible_to_bidders(client: Any, world: World) -> None:
    with client.application.test_request_context():
        section = draft_section(world)
    login(client, make_user(Role.BIDDER))
    assert client.get(f"/projects/tenders/{section.id}").status_code == 404
    assert client.get(f"/projects/documents/{section.documents[0].id}").status_code == 404


def test_document_downloads_are_attachments_with_safe_names_and_types(
    client: Any, app: Any, world: World
) -> None:
    """ASVS 5.3.2/5.4.1/5.4.2: the client's file name is reduced to a safe last component, a scriptable
    claimed type is served as bytes, and the download is an attachment."""
    with app.test_request_context():
        section = draft_section(world, document=False)
        doc = services.add_document(
            section,
            actor=world.agent,
            name="招标文件",
            filename='..\\..\\evil"\r\nX-Injected: 1.html',
            content_type="text/html",
            stream=io.BytesIO(b"<script>alert(1)</script>"),
        )
    assert doc.filename == "evil_X-Injected_ 1.html"
    assert doc.content_type == "application/octet-stream"
    assert services.document_type("application/pdf") == "application/pdf"
    assert services.document_type("text/plain; charset=utf-8") == "text/plain; charset=utf-8"
    assert services.document_type("image/svg+xml") == "application/octet-stream"
    login(client, world.agent)
    resp = client.get(f"/projects/documents/{doc.id}")
    assert resp.status_code == 200
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    resp.close()
