"""Fixtures of the supervision tests: a project with sections in any state, built from plain rows so the
tests do not depend on how other domains reach those states, and helpers that craft bidding rows."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from app.accounts.models import Organization, User
from app.core.clock import CST, clock
from app.core.db import db
from app.core.permissions import OrgKind, Role
from app.projects.models import CatalogueItem, CatalogueVersion, Project, Section
from tests.factories import make_org, make_user

# Monday 2 March 2026, 09:00 China Standard Time.
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=CST)
_n = itertools.count(1)


@dataclass
class Scene:
    center: Organization
    owner: Organization
    regulator_org: Organization
    staff: User
    regulator: User
    manager: User
    tenderer: User
    item: CatalogueItem
    project: Project

    def section(self, status: str = "opened", *, deadline: dt.datetime | None = None, **kw: Any) -> Section:
        deadline = deadline or T0 - dt.timedelta(hours=1)
        values: dict[str, Any] = {
            "project_id": self.project.id,
            "code": f"S{next(_n):04d}",
            "name": "一标段",
            "status": status,
            "estimated_value": Decimal("10000000"),
            "ceiling_price": Decimal("9800000"),
            "docs_available_from": deadline - dt.timedelta(days=25),
            "docs_available_until": deadline - dt.timedelta(days=18),
            "bid_deadline": deadline,
            "published_at": None if status == "draft" else deadline - dt.timedelta(days=25),
            "created_by": self.tenderer.id,
        }
        values.update(kw)
        section = Section(**values)
        db.session.add(section)
        db.session.flush()
        return section


@pytest.fixture
def scene(db_session: Any) -> Scene:
    clock.freeze(T0)
    center = make_org(OrgKind.TRADING_CENTER)
    owner = make_org(OrgKind.TENDERER)
    regulator_org = make_org(OrgKind.REGULATOR)
    staff = make_user(Role.CENTER_STAFF, center)
    regulator = make_user(Role.REGULATOR, regulator_org)
    manager = make_user(Role.MANAGER)
    tenderer = make_user(Role.TENDERER, owner)
    version = CatalogueVersion(number=9000 + next(_n), title="test catalogue", status="draft")
    db.session.add(version)
    db.session.flush()
    item = CatalogueItem(
        version_id=version.id,
        code="GC-T",
        name="房建市政",
        category="engineering_construction",
        industry="housing_construction",
    )
    db.session.add(item)
    db.session.flush()
    project = Project(
        code=f"P-T-{next(_n)}",
        name="测试项目",
        catalogue_item_id=item.id,
        owner_org_id=owner.id,
        regulator_org_id=regulator_org.id,
        funding_source="财政资金",
        approval_ref="test",
        budget=Decimal("12000000"),
        status="accepted",
        submitted_at=T0 - dt.timedelta(days=40),
        reviewed_at=T0 - dt.timedelta(days=39),
        reviewed_by=staff.id,
        created_by=tenderer.id,
    )
    db.session.add(project)
    db.session.flush()
    return Scene(center, owner, regulator_org, staff, regulator, manager, tenderer, item, project)


def bidder(name: str | None = None, *, phone: str | None = None, email: str | None = None) -> User:
    user = make_user(Role.BIDDER, make_org(OrgKind.BIDDER, name))
    user.phone = phone
    user.email = email
    db.session.flush()
    return user


def envelope(section: Section, user: User, **kw: Any) -> Any:
    """A sealed envelope row as the bidding domain stores it after receipt."""
    from app.bidding.models import SealedEnvelope

    n = next(_n)
    values: dict[str, Any] = {
        "section_id": section.id,
        "org_id": user.org_id,
        "submitted_by": user.id,
        "kind": "summary",
        "name": "summary",
        "status": "active",
        "sha256": hashlib.sha256(f"envelope-{n}".encode()).hexdigest(),
        "size": 1000 + n,
        "blob_path": f"envelopes/{section.id}/{n}.age",
        "received_at": section.bid_deadline - dt.timedelta(days=1),
        "audit_leaf_idx": 0,
        "source_ip": f"203.0.113.{n % 250}",
        "client_fingerprint": f"machine-{n}",
    }
    values.update(kw)
    env = SealedEnvelope(**values)
    db.session.add(env)
    db.session.flush()
    return env


def opening_record(section: Section, staff: User, entries: list[tuple[User, dict[str, Any]]]) -> Any:
    """A completed ceremony with one valid record entry per (bidder, declared items)."""
    from app.bidding.models import OpeningCeremony, OpeningRecordEntry

    ceremony = OpeningCeremony(
        section_id=section.id,
        status="completed",
        started_by=staff.id,
        started_at=section.bid_deadline,
        completed_at=section.bid_deadline + dt.timedelta(minutes=20),
    )
    db.session.add(ceremony)
    db.session.flush()
    for position, (user, declared) in enumerate(entries, start=1):
        db.session.add(
            OpeningRecordEntry(
                ceremony_id=ceremony.id,
                org_id=user.org_id,
                position=position,
                bidder_name=f"bidder {user.org_id}",
                declared=declared,
                envelopes=[],
                status="valid",
            )
        )
    db.session.flush()
    return ceremony
