"""HTML pages of the bidding domain: keys, the bidder's section page, custodian shares, the ceremony control
room, the online opening hall (live, SSE) and the public opening record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as WzResponse

from app.accounts import services as accounts_services
from app.accounts.stepup import step_up_required
from app.core import events, streams
from app.core.db import db
from app.core.errors import DomainError, NotFound
from app.core.permissions import Permission, public, require
from app.projects import services as projects_services
from app.projects.enums import SectionStatus
from app.projects.models import Section

from . import opening, permissions, services, uploads
from .enums import CeremonyStatus, EnvelopeStatus
from .models import OpeningCeremony

bp = Blueprint("bidding", __name__, url_prefix="/bidding")


def _section_or_404(section_id: int) -> Section:
    section = db.session.get(Section, section_id)
    if section is None or section.status == SectionStatus.DRAFT:
        raise NotFound(_("No such section."))
    return section


def _back(endpoint: str, **values: Any) -> WzResponse:
    return redirect(url_for(endpoint, **values))


def _flash_error(err: DomainError) -> None:
    db.session.rollback()
    flash(err.message, "error")


# -- bidder -----------------------------------------------------------------------------------------------


@bp.route("/tenders")
@require(Permission.BIDDING_SUBMIT)
def tenders() -> str:
    """Sections open for bids, with this bidder's own envelope count for each."""
    sections = list(
        db.session.scalars(
            select(Section)
            .where(
                Section.status.in_(
                    [
                        SectionStatus.PUBLISHED.value,
                        SectionStatus.BIDDING_CLOSED.value,
                        SectionStatus.OPENING.value,
                        SectionStatus.OPENED.value,
                        SectionStatus.FAILED.value,
                    ]
                )
            )
            .order_by(Section.bid_deadline.desc())
        )
    )
    mine = {s.id: len(uploads.own_envelopes(s.id, current_user.org_id, history=False)) for s in sections}
    return render_template("bidding/tenders.html", sections=sections, mine=mine)


def _envelopes_panel(section: Section) -> dict[str, Any]:
    """What the bidder's receipts panel shows: its own envelopes, those that count first, then history."""
    envelopes = uploads.own_envelopes(section.id, current_user.org_id)
    active = [e for e in envelopes if e.status == EnvelopeStatus.ACTIVE]
    return {
        "section": section,
        "envelopes": active + [e for e in envelopes if e.status != EnvelopeStatus.ACTIVE],
        "active": active,
        "accepting": permissions.can_submit(current_user.user, section),
    }


@bp.route("/sections/<int:section_id>")
@require(Permission.BIDDING_SUBMIT)
def section_page(section_id: int) -> str:
    section = _section_or_404(section_id)
    keys_ = [k for k in services.bidder_keys(current_user.org_id) if k.revoked_at is None]
    return render_template(
        "bidding/section.html",
        keys=keys_,
        max_mb=section.max_envelope_mb,
        obtained=projects_services.obtainment_of(section, current_user.org_id),
        base_url=request.url_root.rstrip("/"),
        **_envelopes_panel(section),
    )


@bp.route("/sections/<int:section_id>/envelopes")
@require(Permission.BIDDING_SUBMIT)
def envelopes_panel(section_id: int) -> str:
    """The receipts panel alone: the sealing script reloads it after each upload."""
    section = _section_or_404(section_id)
    return render_template("bidding/_envelopes.html", **_envelopes_panel(section))


@bp.route("/sections/<int:section_id>/envelopes/<int:envelope_id>/receipt.json")
@require(Permission.BIDDING_SUBMIT)
def receipt_download(section_id: int, envelope_id: int) -> Response:
    env = uploads.own_envelope(envelope_id, actor=current_user.user, section_id=section_id)
    body = json.dumps(uploads.receipt(env), ensure_ascii=False, indent=2)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="receipt-{section_id}-{env.id}.json"'},
    )


@bp.route("/sections/<int:section_id>/withdraw", methods=["GET", "POST"])
@require(Permission.BIDDING_SUBMIT)
def withdraw(section_id: int) -> str | WzResponse:
    """撤回: a page that says what withdrawing does, then the confirmed POST."""
    section = _section_or_404(section_id)
    envs = uploads.own_envelopes(section_id, current_user.org_id, history=False)
    if request.method == "GET":
        if not permissions.can_submit(current_user.user, section):
            flash(_("This section is not accepting bids."), "error")
            return _back("bidding.section_page", section_id=section_id)
        if not envs:
            flash(_("You have no bid on file to withdraw."), "error")
            return _back("bidding.section_page", section_id=section_id)
        return render_template("bidding/withdraw.html", section=section, envelopes=envs)
    if request.form.get("confirm") != "yes":
        flash(_("Tick the box to confirm that you want to withdraw your bid."), "error")
        return _back("bidding.withdraw", section_id=section_id)
    try:
        n = uploads.withdraw(envs, actor=current_user.user, section_id=section_id)
        db.session.commit()
        flash(_("%(n)d envelope(s) withdrawn.", n=n), "success")
    except DomainError as err:
        _flash_error(err)
    return _back("bidding.section_page", section_id=section_id)


@bp.route("/keys", methods=["GET", "POST"])
@require(Permission.BIDDING_KEYS)
def bidder_keys() -> str | WzResponse | tuple[str, int]:
    """The organization's signing keys: register (public key only) and revoke."""
    if request.method == "POST":
        typed = {"label": request.form.get("label", ""), "public_key": request.form.get("public_key", "")}
        try:
            services.register_bidder_key(
                current_user.user.organization,
                typed["public_key"],
                actor=current_user.user,
                label=typed["label"],
            )
            db.session.commit()
            flash(_("Key registered."), "success")
        except DomainError as err:
            _flash_error(err)
            # the page again, as typed, with the field's message: a pasted key is not lost to a typo
            keys = services.bidder_keys(current_user.org_id)
            errors = err.errors or {}
            return render_template("bidding/keys.html", keys=keys, typed=typed, errors=errors), 422
        return _back("bidding.bidder_keys")
    keys = services.bidder_keys(current_user.org_id)
    return render_template("bidding/keys.html", keys=keys, typed={}, errors={})


@bp.route("/keys/<int:key_id>/revoke", methods=["POST"])
@require(Permission.BIDDING_KEYS)
def revoke_key(key_id: int) -> WzResponse:
    key = services.bidder_key_for(current_user.user, key_id)
    try:
        services.revoke_bidder_key(key, actor=current_user.user, reason=request.form.get("reason", ""))
        db.session.commit()
        flash(_("Key revoked."), "success")
    except DomainError as err:
        _flash_error(err)
    return _back("bidding.bidder_keys")


# -- custodians -------------------------------------------------------------------------------------------


@bp.route("/custodian/key", methods=["POST"])
@require(Permission.BIDDING_CUSTODIAN)
@step_up_required
def register_custodian_key() -> WzResponse:
    """Register or swap the custodian's age recipient: whoever holds it receives the future opening-key
    shares, so it takes a fresh second factor (step-up), like submitting a share."""
    user = current_user.user
    try:
        services.register_custodian_key(user, request.form.get("age_recipient", ""), actor=user)
        db.session.commit()
        flash(_("Your age recipient is registered."), "success")
    except DomainError as err:
        _flash_error(err)
    return redirect(url_for("bidding.custodian"))


@bp.route("/custodian")
@require(Permission.BIDDING_CUSTODIAN)
def custodian() -> str | WzResponse:
    """The custodian's personal age recipient and its opening-key shares."""
    user = current_user.user
    shares = services.key_shares_of(user)
    sections = {s.section_id: db.session.get(Section, s.section_id) for s in shares}
    return render_template(
        "bidding/custodian.html",
        key=services.active_custodian_key(user),
        shares=shares,
        sections=sections,
        # Registering a key and submitting a share both ask for a fresh code: say so before the work.
        stepped_up=accounts_services.recently_stepped_up(current_user.session_row),
    )


@bp.route("/custodian/shares/<int:share_id>.age")
@require(Permission.BIDDING_CUSTODIAN)
def share_download(share_id: int) -> Response:
    share = services.key_share_for(current_user.user, share_id)
    return Response(
        share.ciphertext,
        mimetype="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="share-section-{share.section_id}.age"'},
    )


@bp.route("/sections/<int:section_id>/share", methods=["POST"])
@require(Permission.BIDDING_CUSTODIAN)
def submit_share(section_id: int) -> WzResponse:
    section = _section_or_404(section_id)
    if not permissions.is_custodian(current_user.user, section):
        raise NotFound(_("You hold no key share for this section."))
    return step_up_required(_submit_share)(section_id)


def _submit_share(section_id: int) -> WzResponse:
    try:
        ceremony, quorum = opening.submit_share(
            section_id, request.form.get("mnemonic", ""), actor=current_user.user
        )
        db.session.commit()
        flash(_("Your share is in."), "success")
        if quorum:
            opening.run_opening(ceremony.id, actor=current_user.user)
    except DomainError as err:
        _flash_error(err)
    return _back("bidding.hall", section_id=section_id)


# -- center staff -----------------------------------------------------------------------------------------


@bp.route("/openings")
@require(Permission.BIDDING_CEREMONY)
def openings() -> str:
    sections = list(
        db.session.scalars(
            select(Section)
            .where(
                Section.status.in_(
                    [
                        SectionStatus.PUBLISHED.value,
                        SectionStatus.BIDDING_CLOSED.value,
                        SectionStatus.OPENING.value,
                    ]
                )
            )
            .order_by(Section.bid_deadline)
        )
    )
    counts = {s.id: uploads.bidder_count(s.id) for s in sections}
    return render_template("bidding/openings.html", sections=sections, counts=counts)


@bp.route("/sections/<int:section_id>/ceremony", methods=["GET"])
@require(Permission.BIDDING_CEREMONY)
def control_room(section_id: int) -> str:
    section = _section_or_404(section_id)
    if not permissions.can_run_ceremony(current_user.user, section):
        raise NotFound(_("No such section."))
    from app.core.clock import now

    return render_template(
        "bidding/control_room.html",
        section=section,
        count=uploads.bidder_count(section.id),
        status=opening.share_status(section),
        deadline_passed=section.bid_deadline is not None and now() >= section.bid_deadline,
    )


@bp.route("/sections/<int:section_id>/ceremony", methods=["POST"])
@require(Permission.BIDDING_CEREMONY)
def start_ceremony(section_id: int) -> WzResponse:
    section = _section_or_404(section_id)
    if not permissions.can_run_ceremony(current_user.user, section):
        raise NotFound(_("No such section."))
    return step_up_required(_start)(section_id)


def _start(section_id: int) -> WzResponse:
    try:
        ceremony = opening.start_ceremony(section_id, actor=current_user.user)
        db.session.commit()
        if ceremony.status == CeremonyStatus.NOT_OPENED:
            flash(opening.not_opened_reason(ceremony.bidder_count or 0), "warn")
        else:
            flash(_("The opening ceremony has started; custodians can submit their shares."), "success")
    except DomainError as err:
        _flash_error(err)
    return _back("bidding.control_room", section_id=section_id)


@bp.route("/sections/<int:section_id>/ceremony/postpone", methods=["POST"])
@require(Permission.BIDDING_CEREMONY)
def postpone(section_id: int) -> WzResponse:
    section = _section_or_404(section_id)
    if not permissions.can_run_ceremony(current_user.user, section):
        raise NotFound(_("No such section."))
    try:
        opening.postpone(section_id, actor=current_user.user, reason=request.form.get("reason", ""))
        db.session.commit()
        flash(_("The ceremony is postponed."), "success")
    except DomainError as err:
        _flash_error(err)
    return _back("bidding.control_room", section_id=section_id)


@bp.route("/sections/<int:section_id>/objections/<int:objection_id>/answer", methods=["POST"])
@require(Permission.COMPLAINTS_ANSWER)
def answer_objection(section_id: int, objection_id: int) -> WzResponse:
    """The tenderer answers an objection to its opening on the spot (条例 Art. 44)."""
    _section_or_404(section_id)
    try:
        opening.answer_objection(
            section_id, objection_id, request.form.get("answer", ""), actor=current_user.user
        )
        db.session.commit()
    except DomainError as err:
        _flash_error(err)
    return _back("bidding.hall", section_id=section_id)


# -- the hall and the record (public) ---------------------------------------------------------------------


def _hall_context(section: Section) -> dict[str, Any]:
    ceremony = opening.latest_ceremony(section.id)
    record = None
    if ceremony is not None and ceremony.entries:
        record = opening.record_document(section, ceremony)
    return {
        "section": section,
        "ceremony": ceremony,
        "record": record,
        "status": opening.share_status(section),
    }


@bp.route("/sections/<int:section_id>/hall")
@public
def hall(section_id: int) -> str:
    """The online opening hall (开标大厅): live via Server-Sent Events (static/js/opening-hall.js)."""
    return render_template("bidding/hall.html", **_hall_viewer_context(_section_or_404(section_id)))


@bp.route("/sections/<int:section_id>/hall/live")
@public
def hall_live(section_id: int) -> str:
    """The hall's live parts for this viewer (the same template and rules as the page), fetched by the page
    on every event of the ceremony: counts, the record and the viewer's own forms stay current, no reload."""
    return render_template("bidding/_hall_live.html", **_hall_viewer_context(_section_or_404(section_id)))


def _hall_viewer_context(section: Section) -> dict[str, Any]:
    ctx = _hall_context(section)
    user = current_user.user if current_user.is_authenticated else None
    ctx["is_bidder_in_record"] = bool(
        user is not None
        and ctx["ceremony"] is not None
        and any(e.org_id == user.org_id for e in ctx["ceremony"].entries)
        and user.role == "bidder"
    )
    ctx["is_bidder"] = user is not None and user.role == "bidder"
    ctx["is_staff"] = user is not None and user.role == "center_staff"
    project = section.project
    ctx["is_tenderer"] = bool(
        user is not None
        and user.role == "tenderer"
        and user.org_id in {project.owner_org_id, project.agency_org_id}
    )
    ctx["may_object"] = False
    if ctx["is_bidder_in_record"] and user is not None:
        from app.complaints import opening as objections

        try:
            objections.check_may_object(section, user)
            ctx["may_object"] = True
        except DomainError:
            pass
    ctx["is_custodian"] = user is not None and permissions.is_custodian(user, section)
    return ctx


@bp.route("/sections/<int:section_id>/events")
@public
def hall_events(section_id: int) -> Response:
    """SSE stream of the channel ``opening:<section id>`` (app.core.events; Redis fan-out when configured).
    Served by the stream service behind nginx, or on one of the worker's few stream slots
    (``app.core.streams``); anonymous subscribers are capped per address and in all."""
    _section_or_404(section_id)
    db.session.commit()  # a long-lived stream must not hold a transaction or a connection
    limit = float(current_app.config.get("BIDDING_SSE_SECONDS", 300))
    channel = opening.channel(section_id)

    def message(ev: events.Event) -> str:
        return f"data: {json.dumps(ev.data, ensure_ascii=False, default=str)}\n\n"

    def plan(_lease: streams.Lease) -> streams.Plan:
        return streams.Plan(channels=(channel,), prelude="retry: 3000\n\n", format=message, seconds=limit)

    def stream() -> Iterator[str]:
        import time

        bus = events.bus()
        started = time.monotonic()
        yield "retry: 3000\n\n"
        for ev in bus.subscribe([channel], timeout=15.0):
            yield ": keep-alive\n\n" if ev is None else message(ev)
            if time.monotonic() - started > limit:
                return

    return streams.respond(seconds=limit, plan=plan, body=stream)


@bp.route("/sections/<int:section_id>/record")
@public
def record(section_id: int) -> str:
    """The public opening record (开标记录), published once the ceremony completes."""
    section = _section_or_404(section_id)
    ceremony = opening.completed_ceremony(section)
    if ceremony is None:
        unopened = opening.not_opened_ceremony(section)
        if unopened is None:
            raise NotFound(_("The opening record is not published yet."))
        return render_template(
            "bidding/record_not_opened.html",
            section=section,
            ceremony=unopened,
            reason=opening.not_opened_reason(unopened.bidder_count or 0),
        )
    from app.complaints.models import Case

    case_ids = [o.case_id for o in ceremony.objections if o.case_id]
    numbers = dict(db.session.execute(select(Case.id, Case.number).where(Case.id.in_(case_ids))).all())
    return render_template(
        "bidding/record.html",
        section=section,
        ceremony=ceremony,
        record=opening.record_document(section, ceremony),
        record_leaf=opening.record_leaf(section),
        case_numbers=numbers,
    )


@bp.route("/sections/<int:section_id>/record.pdf")
@public
def record_pdf(section_id: int) -> Any:
    """The opening record as a signed PDF (开标记录表), public like the record page."""
    from app.core import printing

    from . import printing as printed

    section = _section_or_404(section_id)
    with printing.requested_locale():
        record = printed.printed_record(section)
        if record is None:
            raise NotFound(_("The opening record is not published yet."))
        return printing.response(record)


@bp.route("/sections/<int:section_id>/objections", methods=["POST"])
@require(Permission.BIDDING_ATTEND)
def raise_objection(section_id: int) -> WzResponse:
    _section_or_404(section_id)
    try:
        opening.raise_objection(section_id, request.form.get("body", ""), actor=current_user.user)
        db.session.commit()
        flash(_("Your objection is recorded; the tenderer answers it on the spot."), "success")
    except DomainError as err:
        _flash_error(err)
    return _back("bidding.hall", section_id=section_id)


@bp.route("/sections/<int:section_id>/confirm", methods=["POST"])
@require(Permission.BIDDING_ATTEND)
def confirm(section_id: int) -> WzResponse:
    _section_or_404(section_id)
    try:
        opening.confirm_record(
            section_id,
            actor=current_user.user,
            accepted=request.form.get("accepted", "1") == "1",
            key_id=request.form.get("key_id") or None,
            signature_b64=request.form.get("signature") or None,
        )
        db.session.commit()
        flash(_("Your confirmation of the opening record is recorded."), "success")
    except DomainError as err:
        _flash_error(err)
    return _back("bidding.hall", section_id=section_id)


def ceremony_of(section_id: int) -> OpeningCeremony | None:
    return opening.latest_ceremony(section_id)
