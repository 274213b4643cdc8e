"""Pages of the expert pool: management office (pool, applications, import, discipline), center staff (draw
room), regulator (witness, verify), the expert (profile, leave, conflicts, invitations) and the one-time
answer link. Thin handlers: load (404), check, call one service, commit, render."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, or_, select

from app.accounts.models import Organization, User
from app.accounts.stepup import step_up_required
from app.core.bodies import FORM_OVERHEAD, body_limit
from app.core.clock import CST, local_to_utc, now
from app.core.db import db
from app.core.errors import DomainError, NotFound
from app.core.labels import error_details
from app.core.permissions import Permission, Role, public, require

from . import draw_record, draws, employment, importer, permissions, services, specialties
from .enums import ConflictRelation, DrawStatus, ExpertStatus, RegionScope, SeatStatus, TitleLevel
from .forms import (
    AnswerForm,
    ConflictForm,
    ContactForm,
    DisciplineForm,
    DrawRequestForm,
    EmploymentForm,
    ExpertForm,
    ImportForm,
    LeaveForm,
    RatingForm,
    ReasonForm,
    StatusForm,
    WitnessForm,
)
from .models import (
    Expert,
    ExpertConflict,
    ExpertCreditEvent,
    ExpertDraw,
    ExpertEmployment,
    ExpertLeave,
    ExpertSpecialty,
    ExpertStatusChange,
    PanelSeat,
    Specialty,
)

bp = Blueprint("experts", __name__, url_prefix="/experts")
PAGE_SIZE = 50


def _user() -> User:
    user: User = current_user.user
    return user


def _flash_error(err: DomainError) -> None:
    details = error_details(err.errors, " ")
    flash(f"{err.message} {details}".strip(), "error")


def _get(model: Any, ident: int) -> Any:
    obj = db.session.get(model, ident)
    if obj is None:
        abort(404)
    return obj


def _employer_choices() -> list[tuple[int, str]]:
    return [(o.id, o.name) for o in db.session.scalars(select(Organization).order_by(Organization.name))]


def _expert_form(expert: Expert | None = None) -> ExpertForm:
    form = ExpertForm(obj=expert) if expert else ExpertForm()
    form.title_level.choices = [(t.value, services.title_level_label(t)) for t in TitleLevel]
    form.employer_org_id.choices = _employer_choices()
    if expert is not None and request.method == "GET":
        form.specialties.data = ";".join(
            sorted(
                (s.specialty_code for s in expert.specialties),
                key=lambda c: (c != expert.primary_specialty, c),
            )
        )
        form.id_number.data = ""
    elif request.method == "GET":
        form.region.data = services.setting("EXPERT_LOCAL_REGION")
    return form


def _data_from(form: ExpertForm) -> services.ExpertData:
    return services.ExpertData(
        name=form.name.data or "",
        id_number=form.id_number.data or "",
        title=form.title.data or "",
        title_level=form.title_level.data or "",
        years_of_practice=int(form.years_of_practice.data or 0),
        employer_org_id=int(form.employer_org_id.data or 0),
        region=form.region.data or "",
        specialties=[
            c.strip().upper()
            for c in (form.specialties.data or "").replace("；", ";").split(";")
            if c.strip()
        ],
        phone=(form.phone.data or "").strip(),
        email=(form.email.data or "").strip() or None,
        entry_exception=bool(form.entry_exception.data),
        exception_reason=form.exception_reason.data or None,
    )


# --- management office -----------------------------------------------------------------------------------


@bp.route("/pool")
@require(Permission.EXPERTS_POOL_MANAGE)
def pool() -> str:
    q = (request.args.get("q") or "").strip()
    specialty = (request.args.get("specialty") or "").strip().upper()
    status = request.args.get("status") or ""
    page = max(1, request.args.get("page", 1, type=int) or 1)
    stmt = select(Expert, Organization).join(Organization, Organization.id == Expert.employer_org_id)
    if q:
        stmt = stmt.where(or_(Expert.name.contains(q), Organization.name.contains(q)))
    if status in {s.value for s in ExpertStatus}:
        stmt = stmt.where(Expert.status == status)
    if specialty:
        stmt = stmt.where(
            Expert.id.in_(
                select(ExpertSpecialty.expert_id).where(ExpertSpecialty.specialty_code.like(f"{specialty}%"))
            )
        )
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.session.execute(stmt.order_by(Expert.id).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    counts = dict(db.session.execute(select(Expert.status, func.count()).group_by(Expert.status)).all())
    return render_template(
        "experts/pool.html",
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        q=q,
        specialty=specialty,
        status=status,
        counts=counts,
        statuses=list(ExpertStatus),
    )


@bp.route("/pool/new", methods=["GET", "POST"])
@require(Permission.EXPERTS_POOL_MANAGE)
def new_expert() -> ResponseReturnValue:
    form = _expert_form()
    if form.validate_on_submit():
        try:
            expert = services.register(_data_from(form), actor=_user())
        except DomainError as err:
            db.session.rollback()
            _flash_error(err)
        else:
            db.session.commit()
            flash(_("Application registered; review it to admit the expert."), "success")
            return redirect(url_for("experts.expert_detail", expert_id=expert.id))
    return render_template("experts/expert_form.html", form=form, expert=None)


@bp.route("/pool/<int:expert_id>", methods=["GET", "POST"])
@require(Permission.EXPERTS_POOL_MANAGE)
def expert_detail(expert_id: int) -> ResponseReturnValue:
    expert: Expert = _get(Expert, expert_id)
    form = _expert_form(expert)
    if request.method == "POST" and form.validate_on_submit():
        data = _data_from(form)
        try:
            if not data.id_number:
                data.id_number = services.reveal_id_number(expert, actor=_user())
            services.update(expert, data, actor=_user())
        except DomainError as err:
            db.session.rollback()
            _flash_error(err)
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("experts.expert_detail", expert_id=expert.id))
    status_form = StatusForm()
    status_form.to.choices = [
        (s.value, services.status_label(s)) for s in services.TRANSITIONS[ExpertStatus(expert.status)]
    ]
    history = db.session.scalars(
        select(ExpertStatusChange)
        .where(ExpertStatusChange.expert_id == expert.id)
        .order_by(ExpertStatusChange.id)
    ).all()
    credit = db.session.scalars(
        select(ExpertCreditEvent)
        .where(ExpertCreditEvent.expert_id == expert.id)
        .order_by(ExpertCreditEvent.id)
    ).all()
    employer = db.session.get(Organization, expert.employer_org_id)
    conflict_orgs = {
        o.id: o.name
        for o in db.session.scalars(
            select(Organization).where(Organization.id.in_([c.org_id for c in expert.conflicts]))
        )
    }
    return render_template(
        "experts/expert_detail.html",
        expert=expert,
        employer=employer,
        form=form,
        status_form=status_form,
        discipline_form=DisciplineForm(),
        history=history,
        credit=credit,
        conflict_orgs=conflict_orgs,
        employment_form=EmploymentForm(),
        lookback_years=employment.lookback_years(),
        age=services.age_on(expert.birth_date, now().astimezone(CST).date()),
    )


def _add_employment(expert: Expert, form: EmploymentForm, source: str) -> None:
    if not form.validate_on_submit():
        flash(_("Name the organization and the last day of the employment."), "error")
        return
    try:
        employment.add(
            expert,
            org=employment.resolve_org(form.organization.data or ""),
            name=form.organization.data or "",
            starts_on=form.starts_on.data,
            ends_on=form.ends_on.data,
            note=form.note.data or "",
            source=source,
            actor=_user(),
        )
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
    else:
        db.session.commit()
        flash(_("Employment recorded."), "success")


@bp.route("/pool/<int:expert_id>/employments", methods=["POST"])
@require(Permission.EXPERTS_POOL_MANAGE)
def add_employment(expert_id: int) -> ResponseReturnValue:
    """The management office records a former employer (工作经历): the expert is kept off that
    organization's panels for the look-back after the employment ended."""
    expert: Expert = _get(Expert, expert_id)
    _add_employment(expert, EmploymentForm(), "manual")
    return redirect(url_for("experts.expert_detail", expert_id=expert.id) + "#employment")


@bp.route("/pool/<int:expert_id>/employments/<int:employment_id>/delete", methods=["POST"])
@require(Permission.EXPERTS_POOL_MANAGE)
def remove_employment(expert_id: int, employment_id: int) -> ResponseReturnValue:
    row = db.session.get(ExpertEmployment, employment_id)
    if row is None or row.expert_id != expert_id:
        abort(404)
    employment.remove(row, actor=_user())
    db.session.commit()
    flash(_("Employment removed."), "success")
    return redirect(url_for("experts.expert_detail", expert_id=expert_id) + "#employment")


@bp.route("/pool/<int:expert_id>/status", methods=["POST"])
@require(Permission.EXPERTS_POOL_MANAGE)
def change_status(expert_id: int) -> ResponseReturnValue:
    expert: Expert = _get(Expert, expert_id)
    form = StatusForm()
    form.to.choices = [(s.value, s.value) for s in ExpertStatus]
    if not form.validate_on_submit():
        flash(_("Choose the new status."), "error")
        return redirect(url_for("experts.expert_detail", expert_id=expert.id))
    try:
        services.transition(expert, form.to.data or "", actor=_user(), reason=form.reason.data or "")
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
    else:
        db.session.commit()
        flash(_("Status changed."), "success")
    return redirect(url_for("experts.expert_detail", expert_id=expert.id))


@bp.route("/pool/<int:expert_id>/discipline", methods=["POST"])
@require(Permission.EXPERTS_POOL_MANAGE)
def discipline(expert_id: int) -> ResponseReturnValue:
    expert: Expert = _get(Expert, expert_id)
    form = DisciplineForm()
    if not form.validate_on_submit():
        flash(_("Give the points and a reason."), "error")
        return redirect(url_for("experts.expert_detail", expert_id=expert.id))
    try:
        services.discipline(
            expert, deduction=int(form.deduction.data or 0), note=form.note.data or "", actor=_user()
        )
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
    else:
        db.session.commit()
        flash(_("Credit score changed."), "success")
    return redirect(url_for("experts.expert_detail", expert_id=expert.id))


@bp.route("/applications")
@require(Permission.EXPERTS_POOL_MANAGE)
def applications() -> str:
    rows = db.session.execute(
        select(Expert, Organization)
        .join(Organization, Organization.id == Expert.employer_org_id)
        .where(Expert.status == ExpertStatus.APPLICANT.value)
        .order_by(Expert.created_at)
    ).all()
    return render_template("experts/applications.html", rows=rows)


@bp.route("/import", methods=["GET", "POST"])
@require(Permission.EXPERTS_POOL_MANAGE)
@body_limit(importer.MAX_FILE_BYTES + FORM_OVERHEAD)
def import_page() -> ResponseReturnValue:
    form = ImportForm()
    report = None
    if request.method == "POST":
        upload = request.files.get("file")
        if not form.validate_on_submit() or upload is None or not upload.filename:
            flash(_("Choose a CSV or XLSX file."), "error")
            return redirect(url_for("experts.import_page"))
        try:
            report = importer.run(upload.filename, upload.read(), dry_run=not form.commit.data, actor=_user())
        except DomainError as err:
            db.session.rollback()
            _flash_error(err)
            return redirect(url_for("experts.import_page"))
        if report.ok and not report.dry_run:
            db.session.commit()
            flash(_("Imported: %(c)d new, %(u)d updated.", c=report.created, u=report.updated), "success")
        else:
            db.session.rollback()
    return render_template("experts/import.html", form=form, report=report, headers=importer.HEADERS)


@bp.route("/specialties")
@require(Permission.EXPERTS_SPECIALTIES_READ)
def specialty_list() -> str:
    specs = db.session.scalars(select(Specialty).order_by(Specialty.code)).all()
    counts = dict(
        db.session.execute(
            select(ExpertSpecialty.specialty_code, func.count()).group_by(ExpertSpecialty.specialty_code)
        ).all()
    )
    return render_template("experts/specialties.html", specs=specs, counts=counts)


# --- draw room (center staff), witness and verification (regulator) ---------------------------------------


def _draw_visible(draw_id: int) -> ExpertDraw:
    draw = db.session.get(ExpertDraw, draw_id)
    if draw is None or not permissions.can_view_panel(_user(), draw):
        abort(404)
    return draw


def _sections(ids: set[int]) -> dict[int, Any]:
    from app.projects.models import Section

    if not ids:
        return {}
    return {s.id: s for s in db.session.scalars(select(Section).where(Section.id.in_(ids)))}


@bp.route("/draws")
@require(Permission.EXPERTS_DRAW_READ)
def draw_room() -> str:
    user = _user()
    stmt = select(ExpertDraw).order_by(ExpertDraw.id.desc()).limit(200)
    if user.role == Role.CENTER_STAFF:
        stmt = stmt.where(ExpertDraw.requested_by == user.id)
    rows = [d for d in db.session.scalars(stmt) if permissions.can_view_panel(user, d)]
    form = None
    if user.role == Role.CENTER_STAFF:
        form = DrawRequestForm()
        form.region_scope.choices = _region_choices()
        form.panel_size.data = form.panel_size.data or 5
    return render_template(
        "experts/draws.html",
        draws=rows,
        form=form,
        sections=_sections({d.section_id for d in rows}),
        specialties=specialties.options(),
        tree=specialties.available_tree() if form is not None else [],
        drawable=_drawable_sections() if form is not None else [],
    )


def _drawable_sections() -> list[Any]:
    """Sections a panel may be drawn for (published up to opened), newest deadline first, for the picker."""
    from app.projects.enums import SectionStatus
    from app.projects.models import Section

    states = [
        SectionStatus.PUBLISHED.value,
        SectionStatus.BIDDING_CLOSED.value,
        SectionStatus.OPENING.value,
        SectionStatus.OPENED.value,
    ]
    return list(
        db.session.scalars(
            select(Section).where(Section.status.in_(states)).order_by(Section.bid_deadline.desc()).limit(500)
        )
    )


def _picked_composition(form: Any) -> str | None:
    """The composition from the specialty tree's seat and backup boxes (``seats-<code>``), as the text the
    typed field takes; None when nothing was picked there."""
    lines = []
    for key, value in form.items():
        if not key.startswith("seats-"):
            continue
        code = key.removeprefix("seats-")
        seats = int(value) if str(value).strip().isdigit() else 0
        backups_raw = str(form.get(f"backups-{code}", "")).strip()
        backups = int(backups_raw) if backups_raw.isdigit() else 0
        if seats > 0:
            lines.append(f"{code} {seats} {backups}")
    return "\n".join(lines) if lines else None


def _region_choices() -> list[tuple[str, str]]:
    return [
        (RegionScope.LOCAL.value, _("Local experts only")),
        (RegionScope.CROSS_REGION.value, _("Cross-region allowed")),
    ]


def parse_composition(text: str) -> list[draws.Slot]:
    slots = []
    for n, line in enumerate((text or "").splitlines(), start=1):
        parts = line.replace(",", " ").replace("，", " ").split()
        if not parts:
            continue
        if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts[1:]):
            raise DomainError(
                _("Line %(n)d: write a specialty code, the seats and the backups.", n=n),
                errors={"composition": [line]},
            )
        slots.append(draws.Slot(parts[0].upper(), int(parts[1]), int(parts[2]) if len(parts) == 3 else 0))
    return slots


@bp.route("/draws/new", methods=["POST"])
@require(Permission.EXPERTS_DRAW_REQUEST)
@step_up_required  # ASVS 7.5.3: running a draw freezes the pool and commits the server randomness
def request_draw() -> ResponseReturnValue:
    from app.projects.models import Section

    picked = _picked_composition(request.form)
    if picked is not None:  # the specialty tree was used: it replaces the typed composition
        data = request.form.copy()
        data["composition"] = picked
        form = DrawRequestForm(formdata=data)
    else:
        form = DrawRequestForm()
    form.region_scope.choices = _region_choices()
    if not form.validate_on_submit():
        flash(_("Fill in every field of the draw request."), "error")
        return redirect(url_for("experts.draw_room"))
    section = db.session.get(Section, form.section_id.data)
    if section is None:
        flash(_("No such section."), "error")
        return redirect(url_for("experts.draw_room"))
    local = form.evaluation_starts_at.data
    assert local is not None  # DataRequired
    starts = local_to_utc(local)
    if starts is None:  # before 0001-01-01 08:00 Beijing time: a typo, asked again
        flash(_("Fill in every field of the draw request."), "error")
        return redirect(url_for("experts.draw_room"))
    try:
        draw = draws.request_draw(
            section,
            slots=parse_composition(form.composition.data or ""),
            evaluation_starts_at=starts,
            region_scope=form.region_scope.data or RegionScope.LOCAL,
            panel_size=form.panel_size.data,
            actor=_user(),
        )
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
        return redirect(url_for("experts.draw_room"))
    db.session.commit()
    flash(_("Pool frozen and server randomness committed. A regulator must now witness the draw."), "success")
    return redirect(url_for("experts.draw_detail", draw_id=draw.id))


@bp.route("/draws/<int:draw_id>")
@require(Permission.EXPERTS_DRAW_READ)
def draw_detail(draw_id: int) -> str:
    draw = _draw_visible(draw_id)
    user = _user()
    if draws.expire_overdue():  # deadlines are also enforced by `flask experts sweep` from cron
        db.session.commit()
        db.session.refresh(draw)
    summary = {}
    for rnd in draw.rounds:
        counts: Counter[str] = Counter(r for rs in rnd.exclusion_reasons().values() for r in rs)
        pool = json.loads(rnd.pool)["specialties"]
        summary[rnd.id] = {
            "by_reason": sorted(counts.items()),
            "eligible": {c: len(v) for c, v in pool.items()},
        }
    experts = {
        e.id: e
        for e in db.session.scalars(select(Expert).where(Expert.id.in_([s.expert_id for s in draw.seats])))
    }
    employers = {
        o.id: o.name
        for o in db.session.scalars(
            select(Organization).where(Organization.id.in_({e.employer_org_id for e in experts.values()}))
        )
    }
    witnesses = {
        u.id: u.display_name
        for u in db.session.scalars(
            select(User).where(User.id.in_([r.witness_id for r in draw.rounds if r.witness_id]))
        )
    }
    rateable = [s for s in draw.seats if permissions.can_rate(user, s)]
    return render_template(
        "experts/draw_detail.html",
        draw=draw,
        section=_sections({draw.section_id}).get(draw.section_id),
        summary=summary,
        experts=experts,
        employers=employers,
        witnesses=witnesses,
        can_manage=permissions.can_manage_draw(user, draw),
        rateable=rateable,
        rating_form=RatingForm(),
        cancel_form=ReasonForm(),
        pending=draws.pending_round(draw),
    )


@bp.route("/draws/<int:draw_id>/cancel", methods=["POST"])
@require(Permission.EXPERTS_DRAW_REQUEST)
def cancel_draw(draw_id: int) -> ResponseReturnValue:
    draw = db.session.get(ExpertDraw, draw_id)
    if draw is None or not permissions.can_manage_draw(_user(), draw):
        abort(404)
    form = ReasonForm()
    try:
        draws.cancel(draw, reason=form.reason.data or "", actor=_user())
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
    else:
        db.session.commit()
        flash(_("Draw cancelled."), "success")
    return redirect(url_for("experts.draw_detail", draw_id=draw.id))


@bp.route("/draws/<int:draw_id>/rate", methods=["POST"])
@require(Permission.EXPERTS_RATE)
def rate(draw_id: int) -> ResponseReturnValue:
    form = RatingForm()
    seat = db.session.get(PanelSeat, form.seat_id.data) if form.seat_id.data else None
    if seat is None or seat.draw_id != draw_id or not permissions.can_rate(_user(), seat):
        abort(404)
    if not form.validate_on_submit():
        flash(_("Scores run from 1 to 5."), "error")
        return redirect(url_for("experts.draw_detail", draw_id=draw_id))
    try:
        services.rate(
            seat,
            attendance=int(form.attendance.data or 0),
            conduct=int(form.conduct.data or 0),
            quality=int(form.quality.data or 0),
            note=form.note.data or "",
            actor=_user(),
        )
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
    else:
        db.session.commit()
        flash(_("Rating saved."), "success")
    return redirect(url_for("experts.draw_detail", draw_id=draw_id))


@bp.route("/witness")
@require(Permission.EXPERTS_DRAW_WITNESS)
def witness_list() -> str:
    from app.projects.models import Project, Section

    user = _user()
    mine = select(Section.id).join(Project).where(Project.regulator_org_id == user.org_id)
    waiting = db.session.scalars(
        select(ExpertDraw)
        .where(ExpertDraw.status == DrawStatus.AWAITING_WITNESS.value, ExpertDraw.section_id.in_(mine))
        .order_by(ExpertDraw.id)
    ).all()
    recent = db.session.scalars(
        select(ExpertDraw)
        .where(ExpertDraw.status != DrawStatus.AWAITING_WITNESS.value, ExpertDraw.section_id.in_(mine))
        .order_by(ExpertDraw.id.desc())
        .limit(50)
    ).all()
    return render_template(
        "experts/witness_list.html",
        waiting=waiting,
        recent=recent,
        sections=_sections({d.section_id for d in [*waiting, *recent]}),
    )


@bp.route("/draws/<int:draw_id>/witness", methods=["GET", "POST"])
@require(Permission.EXPERTS_DRAW_WITNESS)
def witness(draw_id: int) -> ResponseReturnValue:
    """Only the regulator supervising the section witnesses (404 for any other, before the step-up)."""
    draw: ExpertDraw = _get(ExpertDraw, draw_id)
    if not permissions.can_witness(_user(), draw):
        abort(404)
    return step_up_required(_witness)(draw_id)


def _witness(draw_id: int) -> ResponseReturnValue:
    draw: ExpertDraw = _get(ExpertDraw, draw_id)
    form = WitnessForm()
    if form.validate_on_submit():
        try:
            draws.witness(draw, form.entropy.data or "", actor=_user())
        except DomainError as err:
            db.session.rollback()
            _flash_error(err)
        else:
            db.session.commit()
            flash(_("Randomness revealed and the panel drawn. Invitations are on their way."), "success")
            return redirect(url_for("experts.draw_detail", draw_id=draw.id))
    elif request.method == "POST":
        flash(_("Enter at least 6 characters of witness entropy (e.g. dice rolls)."), "error")
    return render_template("experts/witness.html", draw=draw, form=form, pending=draws.pending_round(draw))


@bp.route("/draws/<int:draw_id>/verify")
@require(Permission.EXPERTS_DRAW_VERIFY)
def verify(draw_id: int) -> str:
    draw: ExpertDraw = _draw_visible(draw_id)
    report = draws.verify_draw(draw, actor=_user())
    return render_template("experts/verify.html", draw=draw, report=report)


@bp.route("/public/draws/<int:draw_id>")
@public
def public_digests(draw_id: int) -> str:
    """The public record of a draw (docs/verify-a-draw.md): the commitment and digests until the section's
    result is determined, every input (with pseudonyms) from then on; the same as the JSON below."""
    draw: ExpertDraw = _get(ExpertDraw, draw_id)
    return render_template("experts/public_draw.html", draw=draw, record=draw_record.public_record(draw))


@bp.route("/public/draws/<int:draw_id>.json")
@public
def public_record(draw_id: int) -> ResponseReturnValue:
    """The public record as JSON, the input of ``ggzy-audit draw URL``."""
    draw: ExpertDraw = _get(ExpertDraw, draw_id)
    response = jsonify(draw_record.public_record(draw))
    response.headers["Cache-Control"] = "no-cache"
    return response


# --- the expert ------------------------------------------------------------------------------------------


@bp.route("/me")
@require(Permission.EXPERTS_SELF)
def me() -> str:
    user = _user()
    expert = services.expert_of(user)
    if expert is not None and draws.expire_overdue():
        db.session.commit()
    seats: list[tuple[PanelSeat, ExpertDraw]] = []
    orgs: dict[int, str] = {}
    if expert is not None:
        seats = list(
            db.session.execute(
                select(PanelSeat, ExpertDraw)
                .join(ExpertDraw, ExpertDraw.id == PanelSeat.draw_id)
                .where(PanelSeat.expert_id == expert.id, PanelSeat.status != SeatStatus.STANDBY.value)
                .order_by(PanelSeat.id.desc())
            ).all()
        )
        orgs = {
            o.id: o.name
            for o in db.session.scalars(
                select(Organization).where(
                    Organization.id.in_(
                        [
                            expert.employer_org_id,
                            *[c.org_id for c in expert.conflicts],
                        ]
                    )
                )
            )
        }
    apply_form = None
    if expert is None:
        apply_form = _expert_form()
        apply_form.employer_org_id.data = user.org_id
    contact = ContactForm(obj=expert) if expert else None
    conflict_form = ConflictForm()
    conflict_form.relation.choices = [(r.value, services.relation_label(r)) for r in ConflictRelation]
    answer_form = AnswerForm()
    answer_form.answer.choices = _answer_choices()
    return render_template(
        "experts/me.html",
        expert=expert,
        seats=seats,
        orgs=orgs,
        apply_form=apply_form,
        contact_form=contact,
        leave_form=LeaveForm(),
        conflict_form=conflict_form,
        answer_form=answer_form,
        employment_form=EmploymentForm(),
        lookback_years=employment.lookback_years(),
    )


def _answer_choices() -> list[tuple[str, str]]:
    return [("confirm", _("I will attend")), ("decline", _("I decline"))]


def _own_expert() -> Expert:
    expert = services.expert_of(_user())
    if expert is None:
        abort(404)
    return expert


@bp.route("/me/apply", methods=["POST"])
@require(Permission.EXPERTS_SELF)
def apply() -> ResponseReturnValue:
    user = _user()
    if services.expert_of(user) is not None:
        flash(_("You have already applied."), "error")
        return redirect(url_for("experts.me"))
    form = _expert_form()
    if form.validate_on_submit():
        try:
            services.register(_data_from(form), actor=user, user=user)
        except DomainError as err:
            db.session.rollback()
            _flash_error(err)
        else:
            db.session.commit()
            flash(_("Application sent to the management office."), "success")
    else:
        flash(_("Fill in every field of the application."), "error")
    return redirect(url_for("experts.me"))


@bp.route("/me/contact", methods=["POST"])
@require(Permission.EXPERTS_SELF)
def contact() -> ResponseReturnValue:
    expert = _own_expert()
    form = ContactForm()
    if form.validate_on_submit():
        try:
            services.update_contact(
                expert,
                phone=(form.phone.data or "").strip(),
                email=(form.email.data or "").strip(),
                actor=_user(),
            )
        except DomainError as err:
            db.session.rollback()
            _flash_error(err)
        else:
            db.session.commit()
            flash(_("Saved."), "success")
    return redirect(url_for("experts.me"))


@bp.route("/me/leave", methods=["POST"])
@require(Permission.EXPERTS_SELF)
def add_leave() -> ResponseReturnValue:
    expert = _own_expert()
    form = LeaveForm()
    if not form.validate_on_submit() or form.starts_on.data is None or form.ends_on.data is None:
        flash(_("Give both dates."), "error")
        return redirect(url_for("experts.me"))
    try:
        services.add_leave(
            expert, form.starts_on.data, form.ends_on.data, form.note.data or "", actor=_user()
        )
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
    else:
        db.session.commit()
        flash(_("Leave added."), "success")
    return redirect(url_for("experts.me"))


@bp.route("/me/leave/<int:leave_id>/delete", methods=["POST"])
@require(Permission.EXPERTS_SELF)
def remove_leave(leave_id: int) -> ResponseReturnValue:
    leave = db.session.get(ExpertLeave, leave_id)
    expert = services.expert_of(_user())
    if leave is None or expert is None or leave.expert_id != expert.id:
        abort(404)
    services.remove_leave(leave, actor=_user())
    db.session.commit()
    flash(_("Leave removed."), "success")
    return redirect(url_for("experts.me"))


@bp.route("/me/employments", methods=["POST"])
@require(Permission.EXPERTS_SELF)
def declare_employment() -> ResponseReturnValue:
    """The expert declares a former employer; it is kept off that organization's panels like a conflict."""
    _add_employment(_own_expert(), EmploymentForm(), "self")
    return redirect(url_for("experts.me") + "#employment")


@bp.route("/me/conflicts", methods=["POST"])
@require(Permission.EXPERTS_SELF)
def declare_conflict() -> ResponseReturnValue:
    expert = _own_expert()
    form = ConflictForm()
    form.relation.choices = [(r.value, r.value) for r in ConflictRelation]
    if not form.validate_on_submit():
        flash(_("Name the organization and the relation."), "error")
        return redirect(url_for("experts.me"))
    text = (form.organization.data or "").strip()
    org = db.session.scalar(
        select(Organization).where(or_(Organization.name == text, Organization.credit_code == text.upper()))
    )
    if org is None:
        flash(_("No organization with this name or credit code is registered."), "error")
        return redirect(url_for("experts.me"))
    services.declare_conflict(expert, org, form.relation.data or "other", form.note.data or "", actor=_user())
    db.session.commit()
    flash(_("Conflict declared. You will not be drawn for this organization's trades."), "success")
    return redirect(url_for("experts.me"))


@bp.route("/me/conflicts/<int:conflict_id>/withdraw", methods=["POST"])
@require(Permission.EXPERTS_SELF)
def withdraw_conflict(conflict_id: int) -> ResponseReturnValue:
    conflict = db.session.get(ExpertConflict, conflict_id)
    expert = services.expert_of(_user())
    if conflict is None or expert is None or conflict.expert_id != expert.id:
        abort(404)
    services.withdraw_conflict(conflict, actor=_user())
    db.session.commit()
    flash(_("Declaration withdrawn."), "success")
    return redirect(url_for("experts.me"))


def _answer(seat: PanelSeat, form: AnswerForm, actor: User | None) -> bool:
    try:
        draws.respond(seat, accept=form.answer.data == "confirm", reason=form.reason.data or "", actor=actor)
    except DomainError as err:
        db.session.rollback()
        _flash_error(err)
        return False
    db.session.commit()
    flash(_("Thank you, your answer is recorded."), "success")
    return True


@bp.route("/me/invitations/<int:seat_id>", methods=["POST"])
@require(Permission.EXPERTS_SELF)
def answer(seat_id: int) -> ResponseReturnValue:
    seat = db.session.get(PanelSeat, seat_id)
    if seat is None or not permissions.can_answer(_user(), seat):
        abort(404)
    form = AnswerForm()
    form.answer.choices = _answer_choices()
    if form.validate_on_submit():
        _answer(seat, form, _user())
    else:
        flash(_("Choose an answer."), "error")
    return redirect(url_for("experts.me"))


@bp.route("/answer/<token>", methods=["GET", "POST"])
@public
def answer_link(token: str) -> ResponseReturnValue:
    """The one-time link sent by SMS/email: works once, without signing in (only its hash is stored)."""
    seat = draws.seat_for_token(token)
    if seat is None or seat.status != SeatStatus.INVITED:
        # One message for a spent link and for one that never was: the page tells nothing about which.
        raise NotFound(
            _(
                "This invitation link is no longer valid (already answered, expired or withdrawn). "
                "If you still need to answer, call the trading center."
            )
        )
    form = AnswerForm()
    form.answer.choices = _answer_choices()
    if form.validate_on_submit():
        user = db.session.get(User, seat.expert.user_id) if seat.expert.user_id else None
        if _answer(seat, form, user):
            return render_template("experts/answered.html")
    elif request.method == "POST":
        flash(_("Choose an answer."), "error")
    return render_template("experts/answer.html", seat=seat, draw=seat.draw, form=form)
