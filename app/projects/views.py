"""Pages of the projects domain: tenderer/agency (projects, sections, publish wizard, amendments), center
staff (registration review, room calendar), management office (catalogue), bidders (tender page, obtain and
download documents), regulators (read, suspend/resume)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select
from wtforms.fields.choices import SelectChoice

from app.accounts.enums import Industry
from app.accounts.models import Organization, User
from app.accounts.services import industry_label, role_label
from app.core import storage
from app.core.bodies import FORM_OVERHEAD, body_limit
from app.core.calendar import day_or_today
from app.core.clock import CST, local_to_utc, now
from app.core.db import db
from app.core.errors import DomainError, Forbidden
from app.core.labels import has_label, label
from app.core.permissions import OrgKind, Permission, Role, require

from . import permissions as perms
from . import services
from .enums import CatalogueStatus, Category, DayUnit, Procedure, ProjectStatus, SectionStatus
from .forms import (
    AmendmentForm,
    AnswerForm,
    CatalogueItemForm,
    CatalogueVersionForm,
    CommentForm,
    CommentPeriodForm,
    ConfirmForm,
    DocumentForm,
    ProjectForm,
    QuestionForm,
    ReasonForm,
    ReviewForm,
    RoomForm,
    SectionForm,
    parse_pairs,
    utc_to_local_naive,
)
from .models import (
    CatalogueVersion,
    DocumentObtainment,
    OpeningRoom,
    Project,
    Section,
    SectionDocument,
)

bp = Blueprint("projects", __name__, url_prefix="/projects")


def _me() -> User:
    user: User = current_user.user
    return user


def _flash_error(err: DomainError) -> None:
    details = " ".join(m for msgs in err.errors.values() for m in msgs if m not in err.message)
    flash(f"{err.message} {details}".strip(), "error")


def _project_or_404(project_id: int) -> Project:
    project = db.session.get(Project, project_id)
    if project is None or not perms.can_view_project(_me(), project):
        abort(404)
    return project


def _section_or_404(section_id: int) -> Section:
    section = db.session.get(Section, section_id)
    if section is None or not perms.can_view_project(_me(), section.project):
        abort(404)
    return section


def _own_section_or_404(section_id: int) -> Section:
    section = db.session.get(Section, section_id)
    if section is None or not perms.acts_for(_me(), section.project):
        abort(404)
    return section


def category_label(category: str) -> str:
    return label("category", category)


def status_label(status: str) -> str:
    """A section's, a project's or a catalogue's state (the timeline mixes them): the registry's words."""
    for kind in ("section_status", "project_status", "catalogue_status"):
        if has_label(kind, status):
            return label(kind, status)
    return label("section_status", status)


def unit_label(unit: str) -> str:
    return label("day_unit", unit)


# -- projects ---------------------------------------------------------------------------------------------


@bp.route("/")
@require(Permission.PROJECT_VIEW)
def index() -> ResponseReturnValue:
    me = _me()
    stmt = select(Project).order_by(Project.id.desc())
    if me.role == Role.TENDERER:
        stmt = stmt.where(or_(Project.owner_org_id == me.org_id, Project.agency_org_id == me.org_id))
    projects = db.session.scalars(stmt.limit(500)).all()
    return render_template("projects/index.html", projects=projects)


def _project_form() -> ProjectForm:
    form = ProjectForm()
    catalogue = services.current_catalogue()
    items = catalogue.items if catalogue else []
    form.catalogue_item.choices = [SelectChoice(str(i.id), f"{i.code} {i.name}") for i in items]
    tenderers = db.session.scalars(
        select(Organization).where(Organization.kind == OrgKind.TENDERER.value).order_by(Organization.name)
    ).all()
    agencies = db.session.scalars(
        select(Organization).where(Organization.kind == OrgKind.AGENCY.value).order_by(Organization.name)
    ).all()
    form.owner_org.choices = [SelectChoice("0", "—")] + [SelectChoice(str(o.id), o.name) for o in tenderers]
    form.agency_org.choices = [SelectChoice("0", "—")] + [SelectChoice(str(o.id), o.name) for o in agencies]
    return form


def _supervisors(items: list[Any]) -> list[tuple[Any, str, str]]:
    """(catalogue item, industry label, supervising regulator or why there is none) for the registration
    page: the regulator follows from the item's industry, the tenderer does not choose it."""
    out = []
    for item in items:
        try:
            regulator = services.supervising_regulator(item).name
        except DomainError as err:
            regulator = err.message
        out.append((item, industry_label(item.industry), regulator))
    return out


@bp.route("/new", methods=["GET", "POST"])
@require(Permission.PROJECT_REGISTER)
def register() -> ResponseReturnValue:
    form = _project_form()
    me = _me()
    if form.validate_on_submit():
        data = services.ProjectInput(
            name=form.name.data or "",
            catalogue_item_id=form.catalogue_item.data or 0,
            funding_source=form.funding_source.data or "",
            approval_ref=form.approval_ref.data or "",
            budget=form.budget.data or Decimal("0"),
            owner_org_id=form.owner_org.data or None,
            agency_org_id=form.agency_org.data or None,
            region=form.region.data or "",
        )
        try:
            project = services.register_project(data, actor=me)
        except DomainError as err:
            db.session.rollback()
            _flash_error(err)
        else:
            db.session.commit()
            flash(
                _("Project %(code)s registered; the trading center will review it.", code=project.code),
                "success",
            )
            return redirect(url_for("projects.project", project_id=project.id))
    is_agency = me.organization.kind == OrgKind.AGENCY
    catalogue = services.current_catalogue()
    return render_template(
        "projects/register.html",
        form=form,
        is_agency=is_agency,
        has_catalogue=bool(form.catalogue_item.choices),
        supervisors=_supervisors(list(catalogue.items) if catalogue else []),
    )


@bp.route("/<int:project_id>")
@require(Permission.PROJECT_VIEW)
def project(project_id: int) -> ResponseReturnValue:
    proj = _project_or_404(project_id)
    return render_template(
        "projects/project.html",
        project=proj,
        can_edit=perms.can_edit_project(_me(), proj),
        confirm=ConfirmForm(),
    )


@bp.route("/<int:project_id>/resubmit", methods=["POST"])
@require(Permission.PROJECT_REGISTER)
def resubmit(project_id: int) -> ResponseReturnValue:
    proj = _project_or_404(project_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.resubmit_project(proj, actor=_me())
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
    else:
        db.session.commit()
        flash(_("Registration resubmitted."), "success")
    return redirect(url_for("projects.project", project_id=proj.id))


@bp.route("/review")
@require(Permission.PROJECT_REVIEW)
def review_queue() -> ResponseReturnValue:
    pending = db.session.scalars(
        select(Project).where(Project.status == ProjectStatus.SUBMITTED.value).order_by(Project.submitted_at)
    ).all()
    recent = db.session.scalars(
        select(Project)
        .where(Project.status != ProjectStatus.SUBMITTED.value)
        .order_by(Project.reviewed_at.desc())
        .limit(20)
    ).all()
    return render_template("projects/review.html", pending=pending, recent=recent, form=ReviewForm())


@bp.route("/<int:project_id>/review", methods=["POST"])
@require(Permission.PROJECT_REVIEW)
def review(project_id: int) -> ResponseReturnValue:
    proj = _project_or_404(project_id)
    form = ReviewForm()
    if not form.validate_on_submit():
        flash(_("Choose a decision."), "error")
        return redirect(url_for("projects.review_queue"))
    try:
        services.review_project(
            proj, actor=_me(), accept=form.decision.data == "accept", reason=form.reason.data or ""
        )
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
    else:
        db.session.commit()
        flash(
            _("Registration %(code)s: %(status)s.", code=proj.code, status=status_label(proj.status)),
            "success",
        )
    return redirect(url_for("projects.review_queue"))


# -- sections (tenderer side) -----------------------------------------------------------------------------


def _section_form(project: Project, section: Section | None = None) -> SectionForm:
    form = SectionForm(obj=None)
    users = db.session.scalars(
        select(User)
        .where(
            User.is_active.is_(True),
            or_(
                User.role == Role.CENTER_STAFF.value,
                (User.role == Role.REGULATOR.value) & (User.org_id == project.regulator_org_id),
                (User.role == Role.TENDERER.value)
                & User.org_id.in_([o for o in (project.owner_org_id, project.agency_org_id) if o]),
            ),
        )
        .order_by(User.role, User.display_name)
    ).all()
    form.custodians.choices = [
        SelectChoice(str(u.id), f"{u.display_name}（{role_label(u.role)}）") for u in users
    ]
    rooms = db.session.scalars(
        select(OpeningRoom).where(OpeningRoom.is_active.is_(True)).order_by(OpeningRoom.name)
    ).all()
    form.room.choices = [SelectChoice("0", "—")] + [SelectChoice(str(r.id), r.name) for r in rooms]
    form.procedure.choices = [SelectChoice(p.value, label("procedure", p.value)) for p in Procedure]
    bidders = db.session.scalars(
        select(Organization).where(Organization.kind == OrgKind.BIDDER.value).order_by(Organization.name)
    ).all()
    form.invited_org_ids.choices = [SelectChoice(str(o.id), o.name) for o in bidders]
    if request.method == "GET":
        if section is not None:
            _fill_form(form, section)
        else:
            defaults = _default_custodians(users, _me())
            form.custodians.data = defaults
            form.opening_items.data = []
    return form


def _default_custodians(users: Sequence[User], me: User) -> list[int]:
    """Default 2-of-3: a center staff member, a regulator of the project's regulator, the tenderer (me)."""
    picked: list[int] = []
    for role in (Role.CENTER_STAFF, Role.REGULATOR):
        first = next((u for u in users if u.role == role), None)
        if first is not None:
            picked.append(first.id)
    picked.append(me.id)
    return picked


def _fill_form(form: SectionForm, s: Section) -> None:
    form.name.data = s.name
    form.estimated_value.data = s.estimated_value
    form.ceiling_price.data = s.ceiling_price
    form.bid_security.data = s.bid_security
    form.bid_validity_days.data = s.bid_validity_days
    form.sme_deduction_rate.data = s.sme_deduction_rate
    form.sme_works.data = s.sme_works
    form.performance_security_pct.data = s.performance_security_pct
    form.qualification.data = s.qualification
    form.evaluation_method.data = s.evaluation_method
    form.procedure.data = s.procedure
    form.procedure_approval_ref.data = s.procedure_approval_ref
    form.invited_org_ids.data = list(s.invited_org_ids or [])
    form.prequalification.data = bool(s.prequalification)
    form.scoring_criteria.data = "\n".join(f"{c['name']}: {c['weight']}" for c in s.scoring_criteria or [])
    form.panel_size.data = s.panel_size
    form.panel_pool_count.data = s.panel_pool_count
    form.panel_specialties.data = "\n".join(f"{k}: {v}" for k, v in (s.panel_specialties or {}).items())
    form.opening_items.data = [i for i in s.opening_items or [] if i != "price"]
    form.max_envelope_mb.data = s.max_envelope_mb
    form.custodian_k.data = s.custodian_k
    form.custodians.data = [c.user_id for c in s.custodians]
    form.docs_available_from.data = utc_to_local_naive(s.docs_available_from)
    form.docs_available_until.data = utc_to_local_naive(s.docs_available_until)
    form.bid_deadline.data = utc_to_local_naive(s.bid_deadline)
    form.online_only.data = s.online_only
    form.room.data = s.room_id or 0
    form.notice_text.data = s.notice_text


def _terms(form: SectionForm) -> services.SectionTerms:
    return services.SectionTerms(
        name=form.name.data or "",
        estimated_value=form.estimated_value.data or Decimal("0"),
        ceiling_price=form.ceiling_price.data,
        bid_security=form.bid_security.data or Decimal("0"),
        bid_validity_days=form.bid_validity_days.data,
        sme_deduction_rate=form.sme_deduction_rate.data,
        sme_works=bool(form.sme_works.data),
        performance_security_pct=form.performance_security_pct.data,
        qualification=form.qualification.data or "",
        evaluation_method=form.evaluation_method.data or "lowest_price",
        scoring_criteria=[
            {"name": n, "weight": w} for n, w in parse_pairs(form.scoring_criteria.data or "", integer=False)
        ],
        panel_size=form.panel_size.data or 0,
        panel_pool_count=form.panel_pool_count.data or 0,
        panel_specialties=dict(parse_pairs(form.panel_specialties.data or "", integer=True)),
        opening_items=list(form.opening_items.data or []),
        max_envelope_mb=form.max_envelope_mb.data or 0,
        custodian_k=form.custodian_k.data or 0,
        custodian_ids=list(form.custodians.data or []),
        docs_available_from=local_to_utc(form.docs_available_from.data),
        docs_available_until=local_to_utc(form.docs_available_until.data),
        bid_deadline=local_to_utc(form.bid_deadline.data),
        online_only=bool(form.online_only.data),
        room_id=form.room.data or None,
        notice_text=form.notice_text.data or "",
        procedure=form.procedure.data or Procedure.OPEN.value,
        procedure_approval_ref=form.procedure_approval_ref.data or "",
        invited_org_ids=list(form.invited_org_ids.data or []),
        prequalification=bool(form.prequalification.data),
    )


def _apply_field_errors(form: SectionForm, err: DomainError) -> None:
    for name, msgs in err.errors.items():
        f = getattr(form, name, None) or (form.custodians if name == "custodian_ids" else None)
        if f is not None:
            f.errors = list(f.errors or []) + list(msgs)


@bp.route("/<int:project_id>/sections/new", methods=["GET", "POST"])
@require(Permission.SECTION_EDIT)
def new_section(project_id: int) -> ResponseReturnValue:
    proj = db.session.get(Project, project_id)
    if proj is None or not perms.acts_for(_me(), proj):
        abort(404)
    form = _section_form(proj)
    if form.validate_on_submit():
        try:
            section = services.create_section(proj, _terms(form), actor=_me())
        except DomainError as err:
            db.session.rollback()
            _flash_error(err)
            _apply_field_errors(form, err)
        else:
            db.session.commit()
            flash(_("Section %(code)s saved as a draft.", code=section.code), "success")
            return redirect(url_for("projects.section", section_id=section.id))
    return render_template("projects/section_form.html", form=form, project=proj, section=None)


@bp.route("/sections/<int:section_id>/edit", methods=["GET", "POST"])
@require(Permission.SECTION_EDIT)
def edit_section(section_id: int) -> ResponseReturnValue:
    section = _own_section_or_404(section_id)
    form = _section_form(section.project, section)
    if form.validate_on_submit():
        try:
            services.update_section(section, _terms(form), actor=_me())
        except DomainError as err:
            db.session.rollback()
            _flash_error(err)
            _apply_field_errors(form, err)
        else:
            db.session.commit()
            flash(_("Section saved."), "success")
            return redirect(url_for("projects.section", section_id=section.id))
    return render_template("projects/section_form.html", form=form, project=section.project, section=section)


@bp.route("/sections/<int:section_id>")
@require(Permission.PROJECT_VIEW)
def section(section_id: int) -> ResponseReturnValue:
    sec = _section_or_404(section_id)
    me = _me()
    count = services.obtainment_count(sec) if me.role == Role.CENTER_STAFF else None
    return render_template(
        "projects/section.html",
        section=sec,
        project=sec.project,
        is_owner=perms.acts_for(me, sec.project),
        can_suspend=perms.can_suspend(me, sec),
        can_retender=perms.acts_for(me, sec.project) and services.can_retender(sec),
        successor=services.successor_of(sec),
        obtained_count=count,
        **_questions_context(sec, me),
        answer_form=AnswerForm(),
        is_overdue=services.is_overdue,
        questions_close_on=services.questions_close_on(sec),
        document_form=DocumentForm(),
        reason_form=ReasonForm(),
        confirm=ConfirmForm(),
    )


@bp.route("/sections/<int:section_id>/documents", methods=["POST"])
@require(Permission.SECTION_EDIT)
@body_limit(services.MAX_DOCUMENT_BYTES + FORM_OVERHEAD)
def upload_document(section_id: int) -> ResponseReturnValue:
    sec = _own_section_or_404(section_id)
    form = DocumentForm()
    if form.validate_on_submit():
        upload = form.file.data
        try:
            services.add_document(
                sec,
                actor=_me(),
                name=form.name.data or "",
                filename=upload.filename or "document",
                content_type=upload.mimetype or "application/octet-stream",
                stream=upload.stream,
            )
        except DomainError as err:
            db.session.rollback()
            _flash_error(err)
        else:
            db.session.commit()
            flash(_("Document uploaded and hashed."), "success")
    else:
        flash(_("Choose a file."), "error")
    return redirect(url_for("projects.section", section_id=sec.id))


@bp.route("/sections/<int:section_id>/publish", methods=["GET", "POST"])
@require(Permission.SECTION_PUBLISH)
def publish(section_id: int) -> ResponseReturnValue:
    sec = _own_section_or_404(section_id)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            result = services.publish_section(sec, actor=_me())
        except DomainError as err:
            db.session.rollback()
            _flash_error(err)
            sec = _own_section_or_404(section_id)
        else:
            db.session.commit()
            if result.created:
                flash(_("The tender announcement is published."), "success")
            else:
                flash(_("This section was already published."), "info")
            return redirect(url_for("projects.section", section_id=sec.id))
    checks = services.publication_checks(sec) if sec.status == SectionStatus.DRAFT else []
    return render_template(
        "projects/publish.html",
        section=sec,
        checks=checks,
        ready=bool(checks) and all(c.ok for c in checks),
        form=form,
        item=sec.project.catalogue_item,
    )


@bp.route("/sections/<int:section_id>/amendments/new", methods=["GET", "POST"])
@require(Permission.AMENDMENT_PUBLISH)
def new_amendment(section_id: int) -> ResponseReturnValue:
    sec = _own_section_or_404(section_id)
    form = AmendmentForm()
    if request.method == "GET":
        form.notice_text.data = sec.notice_text
    if form.validate_on_submit():
        try:
            amendment = services.publish_amendment(
                sec,
                actor=_me(),
                title=form.title.data or "",
                body=form.body.data or "",
                affects_bids=bool(form.affects_bids.data),
                notice_text=form.notice_text.data if form.notice_text.data is not None else None,
            )
        except DomainError as err:
            db.session.rollback()
            _flash_error(err)
        else:
            db.session.commit()
            if amendment.new_deadline is not None:
                flash(
                    _(
                        "Amendment %(n)d published; the bid deadline moved to %(d)s so that the statutory "
                        "period remains.",
                        n=amendment.number,
                        d=amendment.new_deadline.astimezone(CST).strftime("%Y-%m-%d %H:%M"),
                    ),
                    "success",
                )
            else:
                flash(_("Amendment %(n)d published.", n=amendment.number), "success")
            return redirect(url_for("projects.section", section_id=sec.id))
    return render_template(
        "projects/amendment_form.html", form=form, section=sec, pending=services.pending_documents(sec)
    )


def _reasoned_action(
    sec: Section, act: Callable[[str], object], done: str, *, reason_required: bool = True
) -> ResponseReturnValue:
    """A section action taken with a reason from :class:`ReasonForm`: run it, commit or flash the error,
    and go back to the section."""
    form = ReasonForm()
    if not form.validate_on_submit() and reason_required:
        flash(_("A reason is required."), "error")
        return redirect(url_for("projects.section", section_id=sec.id))
    try:
        act(form.reason.data or "")
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
    else:
        db.session.commit()
        flash(done, "success")
    return redirect(url_for("projects.section", section_id=sec.id))


def _regulated_section_or_403(section_id: int, refusal: str) -> Section:
    sec = _section_or_404(section_id)
    if not perms.can_suspend(_me(), sec):
        raise Forbidden(refusal)
    return sec


@bp.route("/sections/<int:section_id>/cancel", methods=["POST"])
@require(Permission.SECTION_CANCEL)
def cancel(section_id: int) -> ResponseReturnValue:
    sec = _own_section_or_404(section_id)
    return _reasoned_action(
        sec,
        lambda reason: services.cancel_section(sec, actor=_me(), reason=reason),
        _("The tender is cancelled; the reason is public."),
    )


@bp.route("/sections/<int:section_id>/retender", methods=["POST"])
@require(Permission.SECTION_EDIT)
def retender(section_id: int) -> ResponseReturnValue:
    """重新招标: a new draft section linked to this failed one; the tenderer sets new dates and publishes."""
    sec = _own_section_or_404(section_id)
    if not ConfirmForm().validate_on_submit():
        flash(_("The form expired; try again."), "error")
        return redirect(url_for("projects.section", section_id=sec.id))
    try:
        new = services.retender_section(sec, actor=_me())
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
        return redirect(url_for("projects.section", section_id=sec.id))
    db.session.commit()
    flash(
        _("Re-tender %(code)s drafted from the failed section: set new dates, then publish.", code=new.code),
        "success",
    )
    return redirect(url_for("projects.edit_section", section_id=new.id))


@bp.route("/sections/<int:section_id>/suspend", methods=["POST"])
@require(Permission.SECTION_SUSPEND)
def suspend(section_id: int) -> ResponseReturnValue:
    sec = _regulated_section_or_403(section_id, _("Only the supervising regulator suspends this trade."))
    return _reasoned_action(
        sec,
        lambda reason: services.suspend_section(sec, actor=_me(), reason=reason),
        _("The section is suspended."),
    )


@bp.route("/sections/<int:section_id>/resume", methods=["POST"])
@require(Permission.SECTION_SUSPEND)
def resume(section_id: int) -> ResponseReturnValue:
    sec = _regulated_section_or_403(section_id, _("Only the supervising regulator resumes this trade."))
    return _reasoned_action(
        sec,
        lambda note: services.resume_section(sec, actor=_me(), note=note),
        _("The section is resumed."),
        reason_required=False,  # a note is optional on resuming
    )


# -- bidders: tenders, obtaining and downloading documents -----------------------------------------------


@bp.route("/tenders")
@require(Permission.TENDER_BROWSE)
def tenders() -> ResponseReturnValue:
    rows = db.session.scalars(
        select(Section)
        .where(Section.status != SectionStatus.DRAFT.value)
        .order_by(Section.published_at.desc())
        .limit(200)
    ).all()
    return render_template("projects/tenders.html", sections=rows)


@bp.route("/tenders/<int:section_id>")
@require(Permission.TENDER_BROWSE)
def tender(section_id: int) -> ResponseReturnValue:
    sec = db.session.get(Section, section_id)
    me = _me()
    if sec is None or not perms.can_view_tender(me, sec):
        abort(404)
    mine = services.obtainment_of(sec, me.org_id) if me.role == Role.BIDDER else None
    at = now()
    open_for_sale = (
        sec.status == SectionStatus.PUBLISHED
        and not sec.suspended
        and sec.docs_available_from is not None
        and sec.docs_available_until is not None
        and sec.docs_available_from <= at <= sec.docs_available_until
    )
    return render_template(
        "projects/tender.html",
        section=sec,
        project=sec.project,
        obtainment=mine,
        open_for_sale=open_for_sale,
        can_download=me.role != Role.BIDDER or mine is not None,
        confirm=ConfirmForm(),
        **_questions_context(sec, me),
        question_form=QuestionForm(),
        may_ask=mine is not None and services.may_ask(sec, at),
        questions_close_on=services.questions_close_on(sec),
        is_overdue=services.is_overdue,
    )


def _questions_context(sec: Section, me: User) -> dict[str, Any]:
    """The questions ``me`` may read, with the number each is shown under (``services.shown_numbers``)."""
    questions = services.questions_of(sec, viewer=me)
    return {"questions": questions, "question_numbers": services.shown_numbers(questions, viewer=me)}


@bp.route("/tenders/<int:section_id>/obtain", methods=["POST"])
@require(Permission.DOCUMENTS_OBTAIN)
def obtain(section_id: int) -> ResponseReturnValue:
    sec = db.session.get(Section, section_id)
    if sec is None or sec.status == SectionStatus.DRAFT:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        _row, created = services.obtain_documents(sec, actor=_me())
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
    else:
        db.session.commit()
        flash(
            _("Registered; you can download the documents.") if created else _("Already registered."),
            "success",
        )
    return redirect(url_for("projects.tender", section_id=sec.id))


@bp.route("/tenders/<int:section_id>/questions", methods=["POST"])
@require(Permission.QUESTION_ASK)
@body_limit(64 * 1024)
def ask_question(section_id: int) -> ResponseReturnValue:
    """答疑: a bidder that obtained the documents asks; who asked stays confidential."""
    sec = db.session.get(Section, section_id)
    if sec is None or sec.status == SectionStatus.DRAFT:
        abort(404)
    form = QuestionForm()
    if not form.validate_on_submit():
        flash(
            _(
                "Write the question in %(min)d to %(max)d characters.",
                min=services.MIN_QUESTION,
                max=services.MAX_QUESTION,
            ),
            "error",
        )
        return redirect(url_for("projects.tender", section_id=sec.id) + "#questions")
    try:
        question = services.ask_question(sec, actor=_me(), body=form.body.data or "")
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
    else:
        db.session.commit()
        shown = services.shown_numbers(services.questions_of(sec, viewer=_me()), viewer=_me())
        flash(
            _(
                "Question %(n)d sent. The tenderer does not see who asked; the answer is published to "
                "every bidder.",
                n=shown[question.id],
            ),
            "success",
        )
    return redirect(url_for("projects.tender", section_id=sec.id) + "#questions")


@bp.route("/sections/<int:section_id>/questions/answer", methods=["POST"])
@require(Permission.QUESTION_ANSWER)
@body_limit(128 * 1024)
def answer_questions(section_id: int) -> ResponseReturnValue:
    """The tenderer answers questions with a clarification to every bidder that obtained the documents."""
    sec = _own_section_or_404(section_id)
    form = AnswerForm()
    if not form.validate_on_submit():
        flash(_("Choose the questions you answer and write the answer."), "error")
        return redirect(url_for("projects.section", section_id=sec.id) + "#questions")
    try:
        amendment = services.answer_questions(
            sec,
            actor=_me(),
            question_ids=form.questions.data or [],
            answer=form.answer.data or "",
            affects_bids=bool(form.affects_bids.data),
        )
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
    else:
        db.session.commit()
        flash(_("Answer published as clarification No. %(n)d.", n=amendment.number), "success")
        if amendment.new_deadline is not None:
            flash(
                _(
                    "The bid deadline moved to %(d)s so that the statutory period remains.",
                    d=amendment.new_deadline.astimezone(CST).strftime("%Y-%m-%d %H:%M"),
                ),
                "success",
            )
    return redirect(url_for("projects.section", section_id=sec.id) + "#questions")


@bp.route("/documents/<int:document_id>")
@require(Permission.DOCUMENTS_DOWNLOAD)
def download(document_id: int) -> ResponseReturnValue:
    doc = db.session.get(SectionDocument, document_id)
    me = _me()
    if doc is None:
        abort(404)
    obtained = me.role == Role.BIDDER and services.obtainment_of(doc.section, me.org_id) is not None
    if not perms.can_download(me, doc, obtained):
        abort(404)
    services.record_download(doc, actor=me)
    db.session.commit()
    resp = send_file(
        storage.absolute(doc.blob_path),
        mimetype=doc.content_type,
        as_attachment=True,
        download_name=doc.filename,
    )
    resp.headers["X-Content-SHA256"] = doc.sha256
    return resp


@bp.route("/obtainments/<int:obtainment_id>")
@require(Permission.DOCUMENTS_OBTAIN)
def obtainment(obtainment_id: int) -> ResponseReturnValue:
    row = db.session.get(DocumentObtainment, obtainment_id)
    if row is None or not perms.can_view_obtainment(_me(), row):
        abort(404)
    return render_template("projects/obtainment.html", obtainment=row, section=row.section)


# -- center staff: rooms ----------------------------------------------------------------------------------


@bp.route("/rooms", methods=["GET", "POST"])
@require(Permission.ROOMS_MANAGE)
def rooms() -> ResponseReturnValue:
    form = RoomForm()
    if form.validate_on_submit():
        try:
            services.create_room(
                actor=_me(),
                name=form.name.data or "",
                location=form.location.data or "",
                capacity=form.capacity.data or 30,
            )
        except DomainError as err:
            db.session.rollback()
            _flash_error(err)
        else:
            db.session.commit()
            flash(_("Room added."), "success")
            return redirect(url_for("projects.rooms"))
    day = day_or_today(request.args.get("day"))
    days = [day + dt.timedelta(days=i) for i in range(7)]
    bookings = {d: services.room_bookings(d) for d in days}
    all_rooms = db.session.scalars(select(OpeningRoom).order_by(OpeningRoom.name)).all()
    return render_template(
        "projects/rooms.html",
        form=form,
        rooms=all_rooms,
        days=days,
        bookings=bookings,
        prev_day=day - dt.timedelta(days=7),
        next_day=day + dt.timedelta(days=7),
    )


# -- management office: the trading catalogue ------------------------------------------------------------


@bp.route("/catalogue")
@require(Permission.CATALOGUE_VIEW)
def catalogue() -> ResponseReturnValue:
    versions = db.session.scalars(select(CatalogueVersion).order_by(CatalogueVersion.number.desc())).all()
    return render_template(
        "projects/catalogue.html",
        versions=versions,
        current=services.current_catalogue(),
        form=CatalogueVersionForm(),
    )


@bp.route("/catalogue/new", methods=["POST"])
@require(Permission.CATALOGUE_MANAGE)
def catalogue_new() -> ResponseReturnValue:
    form = CatalogueVersionForm()
    if not form.validate_on_submit():
        flash(_("A title is required."), "error")
        return redirect(url_for("projects.catalogue"))
    try:
        version = services.create_catalogue_version(
            actor=_me(), title=form.title.data or "", notes=form.notes.data or ""
        )
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
        return redirect(url_for("projects.catalogue"))
    db.session.commit()
    flash(_("Draft version %(n)d created.", n=version.number), "success")
    return redirect(url_for("projects.catalogue_version", version_id=version.id))


def _version_or_404(version_id: int) -> CatalogueVersion:
    version = db.session.get(CatalogueVersion, version_id)
    if version is None:
        abort(404)
    return version


def _item_form() -> CatalogueItemForm:
    form = CatalogueItemForm()
    form.category.choices = [SelectChoice(c.value, category_label(c.value)) for c in Category]
    form.industry.choices = [SelectChoice("", "—")] + [
        SelectChoice(i.value, industry_label(i)) for i in Industry
    ]
    units = [SelectChoice(u.value, unit_label(u.value)) for u in DayUnit]
    for f in (form.sale_day_unit, form.bid_day_unit, form.amendment_day_unit, form.objection_day_unit):
        f.choices = list(units)
    return form


@bp.route("/catalogue/<int:version_id>")
@require(Permission.CATALOGUE_VIEW)
def catalogue_version(version_id: int) -> ResponseReturnValue:
    version = _version_or_404(version_id)
    at = now()
    comment_open = (
        version.status == CatalogueStatus.COMMENT
        and version.comment_opens_at is not None
        and version.comment_closes_at is not None
        and version.comment_opens_at <= at < version.comment_closes_at
    )
    return render_template(
        "projects/catalogue_version.html",
        version=version,
        item_form=_item_form(),
        period_form=CommentPeriodForm(),
        comment_form=CommentForm(),
        confirm=ConfirmForm(),
        comment_open=comment_open,
        can_publish=version.status == CatalogueStatus.COMMENT and not comment_open,
    )


@bp.route("/catalogue/<int:version_id>/items", methods=["POST"])
@require(Permission.CATALOGUE_MANAGE)
def catalogue_item(version_id: int) -> ResponseReturnValue:
    version = _version_or_404(version_id)
    form = _item_form()
    if form.validate_on_submit():
        values = {
            "name": form.name.data,
            "category": form.category.data,
            "industry": form.industry.data or None,
            "min_sale_days": form.min_sale_days.data,
            "sale_day_unit": form.sale_day_unit.data,
            "min_bid_days": form.min_bid_days.data,
            "bid_day_unit": form.bid_day_unit.data,
            "amendment_lead_days": form.amendment_lead_days.data,
            "amendment_day_unit": form.amendment_day_unit.data,
            "objection_lead_days": form.objection_lead_days.data,
            "objection_day_unit": form.objection_day_unit.data,
            "legal_basis": form.legal_basis.data or "",
        }
        try:
            services.save_catalogue_item(version, actor=_me(), code=form.code.data or "", values=values)
        except DomainError as err:
            db.session.rollback()
            _flash_error(err)
        else:
            db.session.commit()
            flash(_("Item saved."), "success")
    else:
        flash(_("The item is incomplete."), "error")
    return redirect(url_for("projects.catalogue_version", version_id=version.id))


@bp.route("/catalogue/<int:version_id>/comment-period", methods=["POST"])
@require(Permission.CATALOGUE_MANAGE)
def catalogue_open_comment(version_id: int) -> ResponseReturnValue:
    version = _version_or_404(version_id)
    form = CommentPeriodForm()
    if form.validate_on_submit():
        try:
            services.open_catalogue_comment(version, actor=_me(), days=form.days.data or 0)
        except DomainError as err:
            db.session.rollback()
            _flash_error(err)
        else:
            db.session.commit()
            flash(_("The version is open for public comment."), "success")
    else:
        flash(_("Give the length of the comment period."), "error")
    return redirect(url_for("projects.catalogue_version", version_id=version.id))


@bp.route("/catalogue/<int:version_id>/publish", methods=["POST"])
@require(Permission.CATALOGUE_MANAGE)
def catalogue_publish(version_id: int) -> ResponseReturnValue:
    version = _version_or_404(version_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.publish_catalogue_version(version, actor=_me())
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
    else:
        db.session.commit()
        flash(_("Version %(n)d is now in force.", n=version.number), "success")
    return redirect(url_for("projects.catalogue_version", version_id=version.id))


@bp.route("/catalogue/<int:version_id>/comments", methods=["POST"])
@require(Permission.CATALOGUE_COMMENT)
def catalogue_comment(version_id: int) -> ResponseReturnValue:
    version = _version_or_404(version_id)
    form = CommentForm()
    if form.validate_on_submit():
        try:
            services.add_catalogue_comment(version, actor=_me(), body=form.body.data or "")
        except DomainError as err:
            db.session.rollback()
            _flash_error(err)
        else:
            db.session.commit()
            flash(_("Thank you for your comment."), "success")
    else:
        flash(_("The comment is empty."), "error")
    return redirect(url_for("projects.catalogue_version", version_id=version.id))


def jinja_globals() -> dict[str, object]:
    return {
        "project_category_label": category_label,
        "project_status_label": status_label,
        "day_unit_label": unit_label,
    }
