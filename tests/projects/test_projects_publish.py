"""Publishing a tender: refusals name the rule and the dates, publication is idempotent and happens once,
documents freeze, hooks run in the same transaction, and everything is audited."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from app.core.errors import DomainError
from app.core.models import AuditLeaf
from app.projects import services
from app.projects.models import Section, SectionDocument
from tests.factories import csrf_token, login
from tests.projects.conftest import World, cst, draft_section


def _leaves(db_session: Any, action: str, object_id: int | None = None) -> int:
    stmt = select(func.count()).select_from(AuditLeaf).where(AuditLeaf.action == action)
    if object_id is not None:
        stmt = stmt.where(AuditLeaf.object_id == str(object_id))
    return int(db_session.scalar(stmt))


def test_publication_refused_at_19_days_names_rule_and_dates_then_accepted_at_20(
    app: Any, world: World, db_session: Any
) -> None:
    with app.test_request_context():
        section = draft_section(world, bid_deadline=cst(2026, 3, 21, 9, 30))
        with pytest.raises(DomainError) as refused:
            services.publish_section(section, actor=world.agent)
        assert "bid_period" in refused.value.errors
        assert "19" in refused.value.message and "2026-03-21" in refused.value.message
        assert "2026-03-02" in refused.value.message
        section = draft_section(world, bid_deadline=cst(2026, 3, 22, 9, 30))
        result = services.publish_section(section, actor=world.agent)
    assert result.created
    assert section.status == "published" and section.published_at is not None
    assert all(d.published_at is not None for d in section.documents)
    assert _leaves(db_session, "projects:section:publish", section.id) == 1
    assert [h.to_status for h in section.history] == ["draft", "published"]


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("ceiling_price", None, "ceiling_price"),
        ("docs_available_until", cst(2026, 3, 6, 17, 0), "sale_period"),
        ("custodian_k", 4, "custodians"),
    ],
)
def test_each_rule_refuses_publication(app: Any, world: World, field: str, value: Any, rule: str) -> None:
    with app.test_request_context():
        section = draft_section(world, **{field: value})
        checks = {c.code: c.ok for c in services.publication_checks(section)}
        assert checks[rule] is False
        with pytest.raises(DomainError) as refused:
            services.publish_section(section, actor=world.agent)
    assert rule in refused.value.errors


def test_custodians_from_one_side_cannot_open_alone(app: Any, world: World) -> None:
    with app.test_request_context():
        section = draft_section(world, custodian_ids=[world.staff.id, world.tenderer.id, world.agent.id])
        check = services.check_custodians(section)
    assert not check.ok  # the tenderer and its agency are one side holding k = 2 shares


def test_custodian_must_belong_to_the_project(app: Any, world: World) -> None:
    from app.core.permissions import Role
    from tests.factories import make_user

    outsider = make_user(Role.TENDERER)
    with app.test_request_context():
        section = draft_section(world, custodian_ids=[world.staff.id, world.regulator.id, outsider.id])
        assert not services.check_custodians(section).ok


def test_no_documents_no_publication(app: Any, world: World) -> None:
    with app.test_request_context():
        section = draft_section(world, document=False)
        assert {c.code for c in services.publication_checks(section) if not c.ok} == {"documents"}


def test_retried_publish_yields_one_publication_and_hooks_run_once(
    app: Any, world: World, db_session: Any
) -> None:
    calls: list[int] = []

    def hook(section: Section, actor: Any) -> None:
        calls.append(section.id)
        section.opening_recipient = "age1" + "q" * 58

    services.PUBLISH_HOOKS.append(hook)
    try:
        with app.test_request_context():
            section = draft_section(world)
            first = services.publish_section(section, actor=world.agent)
            second = services.publish_section(section, actor=world.agent)
            stale = db_session.get(Section, section.id)
            third = services.publish_section(stale, actor=world.tenderer)
    finally:
        services.PUBLISH_HOOKS.remove(hook)
    assert (first.created, second.created, third.created) == (True, False, False)
    assert calls == [section.id]
    assert section.opening_recipient and section.opening_recipient.startswith("age1")
    assert _leaves(db_session, "projects:section:publish", section.id) == 1


def test_a_failing_hook_aborts_the_publication(app: Any, world: World, db_session: Any) -> None:
    def hook(section: Section, actor: Any) -> None:
        raise RuntimeError("key generation failed")

    with app.test_request_context():
        section = draft_section(world)
        db_session.commit()
        section_id = section.id
        services.PUBLISH_HOOKS.append(hook)
        try:
            with pytest.raises(RuntimeError):
                services.publish_section(section, actor=world.agent)
        finally:
            services.PUBLISH_HOOKS.remove(hook)
        db_session.rollback()
    assert db_session.get(Section, section_id).status == "draft"


def test_conditional_update_lets_only_one_of_two_racing_publishers_win(
    app: Any, world: World, db_session: Any, monkeypatch: Any
) -> None:
    """The race: a second publisher commits between our checks and our UPDATE. Our conditional
    ``UPDATE … WHERE status = 'draft'`` then matches nothing; we report the existing publication and run
    no hook."""
    calls: list[int] = []
    real_checks = services.publication_checks

    def checks_then_someone_else_publishes(section: Section, **kw: Any) -> Any:
        result = real_checks(section, **kw)
        db_session.execute(
            text("UPDATE section SET status = 'published', published_at = :at WHERE id = :id"),
            {"at": section.docs_available_from.replace(tzinfo=None), "id": section.id},
        )
        return result

    with app.test_request_context():
        section = draft_section(world)
        monkeypatch.setattr(services.publication, "publication_checks", checks_then_someone_else_publishes)
        services.PUBLISH_HOOKS.append(lambda s, a: calls.append(s.id))
        try:
            result = services.publish_section(section, actor=world.agent)
        finally:
            services.PUBLISH_HOOKS.pop()
    assert result.created is False
    assert calls == []
    assert _leaves(db_session, "projects:section:publish", section.id) == 0


def test_published_document_is_immutable(app: Any, world: World, db_session: Any) -> None:
    with app.test_request_context():
        section = draft_section(world)
        services.publish_section(section, actor=world.agent)
        db_session.commit()
        doc = section.documents[0]
        doc.sha256 = "0" * 64
        with pytest.raises(ValueError, match="immutable"):
            db_session.flush()
        db_session.rollback()
        doc = db_session.get(SectionDocument, doc.id)
        db_session.delete(doc)
        with pytest.raises(ValueError, match="immutable"):
            db_session.flush()
        db_session.rollback()


def test_new_version_after_publication_waits_for_an_amendment(app: Any, world: World) -> None:
    with app.test_request_context():
        section = draft_section(world)
        services.publish_section(section, actor=world.agent)
        doc = services.add_document(
            section,
            actor=world.agent,
            name="招标文件",
            filename="tender-v2.pdf",
            content_type="application/pdf",
            stream=io.BytesIO(b"%PDF v2"),
        )
        assert doc.version == 2 and doc.published_at is None
        assert [d.version for d in section.current_documents] == [1]
        services.publish_amendment(
            section, actor=world.agent, title="修改", body="更新招标文件", affects_bids=False
        )
        assert [d.version for d in section.current_documents] == [2]


def test_database_refuses_security_over_two_percent(app: Any, world: World, db_session: Any) -> None:
    with app.test_request_context():
        section = draft_section(world)
        db_session.commit()
        with pytest.raises(DomainError) as refused:
            services.update_section(
                section, _with(world, bid_security=Decimal("200000.01")), actor=world.agent
            )
        assert "bid_security" in refused.value.errors
        db_session.rollback()
        section = db_session.get(Section, section.id)
        section.bid_security = Decimal("200000.01")
        with pytest.raises(IntegrityError):
            db_session.flush()
        db_session.rollback()


def _with(world: World, **kw: Any) -> services.SectionTerms:
    from tests.projects.conftest import terms

    return terms(world, **kw)


def test_api_publish_is_idempotent_and_rejects_unknown_fields(
    client: Any, world: World, db_session: Any
) -> None:
    from app.accounts import services as accounts

    with client.application.test_request_context():
        section = draft_section(world)
    raw = accounts.create_api_token(world.agent, name="ci").raw
    headers = {"Authorization": f"Bearer {raw}"}
    checks = client.get(f"/api/v1/projects/sections/{section.id}/checks", headers=headers)
    assert checks.status_code == 200 and checks.json["ready"] is True
    bad = client.post(
        f"/api/v1/projects/sections/{section.id}/publish", json={"force": True}, headers=headers
    )
    assert bad.status_code == 422
    first = client.post(f"/api/v1/projects/sections/{section.id}/publish", json={}, headers=headers)
    again = client.post(f"/api/v1/projects/sections/{section.id}/publish", json={}, headers=headers)
    assert first.status_code == 200 and first.json["created"] is True
    assert again.status_code == 200 and again.json["created"] is False
    assert first.json["section"]["status"] == "published"
    listed = client.get("/api/v1/projects/", headers=headers)
    assert [p["code"] for p in listed.json] == [world.project.code]
    assert _leaves(db_session, "projects:section:publish", section.id) == 1


def test_api_other_tenderer_gets_404(client: Any, world: World) -> None:
    from app.accounts import services as accounts
    from app.core.permissions import Role
    from tests.factories import make_user

    with client.application.test_request_context():
        section = draft_section(world)
    other = make_user(Role.TENDERER)
    raw = accounts.create_api_token(other, name="ci").raw
    resp = client.post(
        f"/api/v1/projects/sections/{section.id}/publish", json={}, headers={"Authorization": f"Bearer {raw}"}
    )
    assert resp.status_code == 404


def test_publish_wizard_shows_checks_before_submitting(client: Any, world: World) -> None:
    with client.application.test_request_context():
        section = draft_section(world, bid_deadline=cst(2026, 3, 21, 9, 30))
    login(client, world.agent)
    page = client.get(f"/projects/sections/{section.id}/publish").get_data(as_text=True)
    assert 'data-rule="bid_period" class="bad"' in page
    assert 'data-rule="sale_period" class="ok"' in page
    assert "2026-03-21" in page
    resp = client.post(
        f"/projects/sections/{section.id}/publish",
        data={"csrf_token": csrf_token(client, f"/projects/sections/{section.id}/publish")},
    )
    assert resp.status_code == 200
    assert "flash-error" in resp.get_data(as_text=True)
