"""Project registration (进场登记) and the center's review."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.accounts.models import Organization, User
from app.core.calendar import local_date
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict, DomainError
from app.core.permissions import OrgKind, Role

from ..enums import (
    Category,
    ProjectStatus,
)
from ..models import (
    CatalogueItem,
    Project,
)
from ._common import _audit
from .catalogue import current_catalogue

# -- project registration ---------------------------------------------------------------------------------


@dataclass
class ProjectInput:
    name: str
    catalogue_item_id: int
    funding_source: str
    approval_ref: str
    budget: Decimal
    # The supervising regulator follows from the catalogue item's industry (:func:`supervising_regulator`);
    # a registration that names another one is refused. Optional: the platform fills it in.
    regulator_org_id: int | None = None
    owner_org_id: int | None = None  # required when an agency registers
    agency_org_id: int | None = None  # an owner may name its agency
    region: str = ""


_CODE_PREFIX = {
    Category.ENGINEERING_CONSTRUCTION: "GC",
    Category.GOVERNMENT_PROCUREMENT: "ZC",
    Category.LAND_MINERAL: "TD",
    Category.STATE_PROPERTY: "CQ",
    Category.OTHER: "QT",
}


def register_project(data: ProjectInput, *, actor: User) -> Project:
    """Register a project (进场登记). A tenderer registers its own project (optionally naming its agency);
    an agency user registers for a named tenderer."""
    if actor.role != Role.TENDERER:
        raise DomainError(_("Only a tenderer or its agency registers projects."))
    errors: dict[str, list[str]] = {}
    own_kind = OrgKind(actor.organization.kind)
    if own_kind is OrgKind.AGENCY:
        owner = db.session.get(Organization, data.owner_org_id) if data.owner_org_id else None
        if owner is None or owner.kind != OrgKind.TENDERER or not owner.is_active:
            errors["owner_org_id"] = [_("Name the tenderer this agency acts for.")]
        agency_id: int | None = actor.org_id
    else:
        owner = actor.organization
        agency_id = data.agency_org_id
        if agency_id is not None:
            agency = db.session.get(Organization, agency_id)
            if agency is None or agency.kind != OrgKind.AGENCY:
                errors["agency_org_id"] = [_("Not a tendering agency.")]
    item = db.session.get(CatalogueItem, data.catalogue_item_id)
    in_force = current_catalogue()
    if item is None or in_force is None or item.version_id != in_force.id:
        errors["catalogue_item_id"] = [_("Choose an item of the trading catalogue in force.")]
    regulator: Organization | None = None
    if item is not None and "catalogue_item_id" not in errors:
        try:
            regulator = supervising_regulator(item)
        except DomainError as err:
            errors["regulator_org_id"] = [err.message]
        else:
            if data.regulator_org_id is not None and data.regulator_org_id != regulator.id:
                errors["regulator_org_id"] = [
                    _(
                        "The supervising regulator follows from the project's industry: %(regulator)s "
                        "supervises %(item)s (行业主管部门, 招标投标法第7条、实施条例第4条); a project "
                        "does not choose its regulator.",
                        regulator=regulator.name,
                        item=item.name,
                    )
                ]
    if not (data.name or "").strip():
        errors["name"] = [_("Required.")]
    if not (data.funding_source or "").strip():
        errors["funding_source"] = [_("Required.")]
    if not (data.approval_ref or "").strip():
        errors["approval_ref"] = [_("Required.")]
    if data.budget is None or data.budget < 0:
        errors["budget"] = [_("Must not be negative.")]
    if errors:
        raise DomainError(_("The registration is incomplete."), errors=errors)
    assert item is not None and owner is not None and regulator is not None
    code = _next_project_code(item)
    project = Project(
        code=code,
        name=data.name.strip(),
        catalogue_item_id=item.id,
        owner_org_id=owner.id,
        agency_org_id=agency_id,
        regulator_org_id=regulator.id,
        funding_source=data.funding_source.strip(),
        approval_ref=data.approval_ref.strip(),
        budget=data.budget,
        region=(data.region or "").strip(),
        status=ProjectStatus.SUBMITTED.value,
        submitted_at=now(),
        created_by=actor.id,
    )
    db.session.add(project)
    db.session.flush()
    _audit(
        "projects:project:register",
        actor,
        project,
        {
            "code": code,
            "owner_org_id": owner.id,
            "agency_org_id": agency_id,
            "item": item.code,
            "industry": item.industry,
            "regulator_org_id": regulator.id,
        },
    )
    return project


def supervising_regulator(item: CatalogueItem) -> Organization:
    """The regulator that supervises trades of ``item``: the one active regulator organization of the item's
    industry (行业主管部门, as the trading catalogue assigns it). Refused when the catalogue names no
    industry, or when no regulator — or more than one — is registered for it: jurisdiction is never a
    choice of the tenderer."""
    from app.accounts.services import industry_label

    if not item.industry:
        raise DomainError(
            _(
                "The catalogue item %(item)s names no supervising industry; the management office must "
                "set it before projects are registered under it.",
                item=item.name,
            )
        )
    found = list(
        db.session.scalars(
            select(Organization)
            .where(
                Organization.kind == OrgKind.REGULATOR.value,
                Organization.industry == item.industry,
                Organization.is_active.is_(True),
            )
            .order_by(Organization.id)
            .limit(2)
        )
    )
    if len(found) != 1:
        raise DomainError(
            _(
                "No single regulator is registered for the industry %(industry)s (%(n)d found); the "
                "administrator registers exactly one active regulator per industry.",
                industry=industry_label(item.industry),
                n=len(found),
            )
        )
    return found[0]


def _next_project_code(item: CatalogueItem) -> str:
    prefix = f"{_CODE_PREFIX[Category(item.category)]}{local_date(now()).year}"
    count = db.session.scalar(
        select(func.count()).select_from(Project).where(Project.code.like(f"{prefix}-%"))
    )
    return f"{prefix}-{(count or 0) + 1:04d}"


def review_project(project: Project, *, actor: User, accept: bool, reason: str = "") -> Project:
    """Center staff accept a registration, or return it with a reason."""
    if project.status != ProjectStatus.SUBMITTED:
        raise Conflict(_("This registration was already reviewed."))
    reason = (reason or "").strip()
    if not accept and not reason:
        raise DomainError(_("Say why the registration is returned."), errors={"reason": [_("Required.")]})
    project.status = (ProjectStatus.ACCEPTED if accept else ProjectStatus.RETURNED).value
    project.return_reason = None if accept else reason
    project.reviewed_at = now()
    project.reviewed_by = actor.id
    db.session.flush()
    _audit(
        "projects:project:accept" if accept else "projects:project:return",
        actor,
        project,
        {"reason": reason or None},
    )
    return project


def resubmit_project(project: Project, *, actor: User) -> Project:
    if project.status != ProjectStatus.RETURNED:
        raise Conflict(_("Only a returned registration can be resubmitted."))
    project.status = ProjectStatus.SUBMITTED.value
    project.return_reason = None
    project.reviewed_at = None
    project.reviewed_by = None
    project.submitted_at = now()
    db.session.flush()
    _audit("projects:project:resubmit", actor, project, {})
    return project
