"""The demo seed: the catalogue in force, a published tender per catalogue category, and a draft the
publish wizard refuses."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app import demo
from app.accounts import services as accounts
from app.projects import services
from app.projects.demo import seed_projects
from app.projects.enums import Category
from app.projects.models import Section


def test_demo_has_a_published_tender_per_category(app: Any, db_session: Any) -> None:
    with app.test_request_context():
        orgs = {
            o.key: accounts.create_organization(
                o.name, o.kind, actor=None, industry=o.industry, credit_code=o.credit_code
            )
            for o in demo.ORGS
        }
        users = {
            username: accounts.create_user(
                username=username,
                display_name=name,
                organization=orgs[org_key],
                role=role,
                password="demo password 123",
                actor=None,
            )
            for username, name, org_key, role in demo.USERS
        }
        seed_projects(orgs, users)
        sections = db_session.scalars(select(Section).order_by(Section.id)).all()
        published = [s for s in sections if s.status == "published"]
        assert {s.project.catalogue_item.category for s in published} == {c.value for c in Category}
        drafts = [s for s in sections if s.status == "draft" and not s.prequalification]
        assert len(drafts) == 1
        # a works section with prequalification: its round published, the tender refused until it passes
        from app.projects.prequal.services import current_round

        prequalified = next(s for s in sections if s.prequalification)
        round_ = current_round(prequalified)
        assert round_ is not None and round_.status == "published" and len(round_.applications) == 1
        assert "prequalification" in {c.code for c in services.publication_checks(prequalified) if not c.ok}
        refused = {c.code for c in services.publication_checks(drafts[0]) if not c.ok}
        assert refused == {"bid_period"}
        assert services.current_catalogue() is not None
        construction = next(s for s in published if s.project.catalogue_item.code == "GC-01")
        assert services.obtainment_count(construction) == 3
