"""The trading catalogue (交易目录): versions, public comment, publication, statutory floors."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.accounts.models import User
from app.core.calendar import load_calendar, period_end
from app.core.clock import CST, now
from app.core.db import db
from app.core.errors import Conflict, DomainError

from .. import rules
from ..enums import (
    CatalogueStatus,
    Category,
    DayUnit,
)
from ..models import (
    CatalogueComment,
    CatalogueItem,
    CatalogueVersion,
)
from ._common import _audit

# -- trading catalogue ------------------------------------------------------------------------------------


def current_catalogue() -> CatalogueVersion | None:
    return db.session.scalar(
        select(CatalogueVersion).where(CatalogueVersion.status == CatalogueStatus.PUBLISHED.value)
    )


DEFAULT_ITEMS: list[tuple[str, str, Category, str | None]] = [
    ("GC-01", "依法必须招标的房屋建筑和市政工程", Category.ENGINEERING_CONSTRUCTION, "housing_construction"),
    ("GC-02", "依法必须招标的交通工程", Category.ENGINEERING_CONSTRUCTION, "transport"),
    ("GC-03", "依法必须招标的水利工程", Category.ENGINEERING_CONSTRUCTION, "water"),
    ("ZC-01", "政府采购货物和服务（公开招标）", Category.GOVERNMENT_PROCUREMENT, "finance_procurement"),
    ("TD-01", "国有建设用地使用权出让", Category.LAND_MINERAL, "land_resources"),
    ("TD-02", "矿业权出让", Category.LAND_MINERAL, "land_resources"),
    ("CQ-01", "企业国有产权转让", Category.STATE_PROPERTY, "state_assets"),
    ("QT-01", "其他纳入平台交易的公共资源", Category.OTHER, None),
]


def create_catalogue_version(*, actor: User, title: str, notes: str = "") -> CatalogueVersion:
    """Draft a new version, starting from the items of the version in force (or the defaults)."""
    title = (title or "").strip()
    if not title:
        raise DomainError(_("A title is required."), errors={"title": [_("Required.")]})
    number = (db.session.scalar(select(func.max(CatalogueVersion.number))) or 0) + 1
    version = CatalogueVersion(number=number, title=title, notes=notes or "", created_by=actor.id)
    db.session.add(version)
    base = current_catalogue()
    if base is not None:
        for item in base.items:
            version.items.append(
                CatalogueItem(
                    **{
                        c: getattr(item, c)
                        for c in CatalogueItem.__table__.columns.keys()  # noqa: SIM118 - ColumnCollection
                        if c not in {"id", "version_id"}
                    }
                )
            )
    else:
        for code, name, category, industry in DEFAULT_ITEMS:
            version.items.append(_default_item(code, name, category, industry))
    db.session.flush()
    _audit("projects:catalogue:draft", actor, version, {"number": number, "title": title})
    return version


def _default_item(code: str, name: str, category: Category, industry: str | None) -> CatalogueItem:
    r = rules.DEFAULT_RULES[category]
    return CatalogueItem(
        code=code,
        name=name,
        category=category.value,
        industry=industry,
        min_sale_days=r.min_sale_days,
        sale_day_unit=r.sale_day_unit.value,
        min_bid_days=r.min_bid_days,
        bid_day_unit=r.bid_day_unit.value,
        amendment_lead_days=r.amendment_lead_days,
        amendment_day_unit=r.amendment_day_unit.value,
        objection_lead_days=r.objection_lead_days,
        objection_day_unit=r.objection_day_unit.value,
        legal_basis=r.legal_basis,
    )


ITEM_FIELDS = (
    "name",
    "category",
    "industry",
    "min_sale_days",
    "sale_day_unit",
    "min_bid_days",
    "bid_day_unit",
    "amendment_lead_days",
    "amendment_day_unit",
    "objection_lead_days",
    "objection_day_unit",
    "legal_basis",
)


def save_catalogue_item(
    version: CatalogueVersion, *, actor: User, code: str, values: dict[str, Any]
) -> CatalogueItem:
    """Add or change an item of a draft version."""
    if version.status != CatalogueStatus.DRAFT:
        raise Conflict(_("Only a draft version can be changed; draft a new version."))
    code = (code or "").strip().upper()
    if not code:
        raise DomainError(_("A code is required."), errors={"code": [_("Required.")]})
    errors: dict[str, list[str]] = {}
    try:
        Category(values["category"])
    except (KeyError, ValueError):
        errors["category"] = [_("Unknown category.")]
    for unit_field in ("sale_day_unit", "bid_day_unit", "amendment_day_unit", "objection_day_unit"):
        if values.get(unit_field) not in {u.value for u in DayUnit}:
            errors[unit_field] = [_("Unknown day unit.")]
    for days_field in ("min_sale_days", "min_bid_days", "amendment_lead_days"):
        if not isinstance(values.get(days_field), int) or values[days_field] < 1:
            errors[days_field] = [_("At least one day.")]
    objection = values.get("objection_lead_days")
    if objection is not None and (not isinstance(objection, int) or objection < 1):
        errors["objection_lead_days"] = [_("At least one day, or empty.")]
    if not errors:
        errors = rules.floor_problems(values["category"], values)
        if errors:
            raise DomainError(
                " ".join(msg for msgs in errors.values() for msg in msgs),
                errors=errors,
                code="below_statutory_floor",
            )
    if errors:
        raise DomainError(_("The catalogue item is not valid."), errors=errors)
    item = next((i for i in version.items if i.code == code), None)
    if item is None:
        item = CatalogueItem(code=code)
        version.items.append(item)
    for name in ITEM_FIELDS:
        if name in values:
            setattr(item, name, values[name])
    db.session.flush()
    _audit(
        "projects:catalogue:item_save",
        actor,
        version,
        {"code": code, **{k: values.get(k) for k in ITEM_FIELDS if k in values}},
    )
    return item


def open_catalogue_comment(version: CatalogueVersion, *, actor: User, days: int) -> CatalogueVersion:
    """Open the draft for public comment (征求意见) for ``days`` calendar days (civil-law counting)."""
    if version.status != CatalogueStatus.DRAFT:
        raise Conflict(_("Only a draft can be opened for comment."))
    if days < 1:
        raise DomainError(
            _("The comment period lasts at least one day."), errors={"days": [_("At least 1.")]}
        )
    if not version.items:
        raise DomainError(_("The version has no items."))
    at = now()
    closes_at = period_end(at, days, unit="calendar", calendar=load_calendar())
    version.status = CatalogueStatus.COMMENT.value
    version.comment_opens_at = at
    version.comment_closes_at = closes_at
    db.session.flush()
    _audit(
        "projects:catalogue:open_comment",
        actor,
        version,
        {"days": days, "closes_at": version.comment_closes_at},
    )
    return version


def add_catalogue_comment(
    version: CatalogueVersion, *, actor: User | None, body: str, author_name: str = ""
) -> CatalogueComment:
    """A comment during the comment period; ``actor`` None is a member of the public (``author_name``)."""
    body = (body or "").strip()
    if not body:
        raise DomainError(_("The comment is empty."), errors={"body": [_("Required.")]})
    at = now()
    if (
        version.status != CatalogueStatus.COMMENT
        or version.comment_opens_at is None
        or version.comment_closes_at is None
        or not (version.comment_opens_at <= at < version.comment_closes_at)
    ):
        raise Conflict(_("This version is not open for comment."))
    name = actor.display_name if actor is not None else ((author_name or "").strip() or _("Anonymous"))
    comment = CatalogueComment(
        version_id=version.id, user_id=actor.id if actor else None, author_name=name[:100], body=body
    )
    db.session.add(comment)
    db.session.flush()
    _audit("projects:catalogue:comment", actor, version, {"comment_id": comment.id})
    return comment


def publish_catalogue_version(version: CatalogueVersion, *, actor: User) -> CatalogueVersion:
    """Publish a version whose comment period has ended; the version in force becomes history."""
    if version.status != CatalogueStatus.COMMENT:
        raise Conflict(_("Only a version that went through public comment can be published."))
    at = now()
    assert version.comment_closes_at is not None
    if at < version.comment_closes_at:
        raise Conflict(
            _(
                "The public comment period runs until %(end)s; publish after it ends.",
                end=version.comment_closes_at.astimezone(CST).strftime("%Y-%m-%d %H:%M"),
            )
        )
    previous = current_catalogue()
    if previous is not None:
        previous.status = CatalogueStatus.SUPERSEDED.value
        previous.superseded_at = at
        db.session.flush()  # the partial unique index allows one version in force
    version.status = CatalogueStatus.PUBLISHED.value
    version.published_at = at
    version.published_by = actor.id
    db.session.flush()
    _audit(
        "projects:catalogue:publish",
        actor,
        version,
        {"number": version.number, "supersedes": previous.number if previous else None},
    )
    return version
