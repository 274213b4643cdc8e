"""The public portal (公共资源交易公共服务): no login, Chinese first, English available.

Every route is ``@public``. Pages read through :mod:`app.portal.services`, which never returns drafts and
never reads who obtained the documents or anything about bids.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.accounts.models import Organization
from app.accounts.principal import signed_in_user
from app.core import storage
from app.core.db import db
from app.core.errors import DomainError
from app.core.permissions import public
from app.extensions import limiter
from app.projects import services as projects_services
from app.projects.enums import Category, SectionStatus
from app.projects.models import CatalogueItem

from . import cache, services
from .feed import build_feed
from .labels import CATEGORY_LABELS, RESULT_TITLES, STATUS_LABELS
from .schemas import load_announcement_args

bp = Blueprint("portal", __name__, url_prefix="/portal")


class PublicCommentForm(FlaskForm):
    # CSRF is checked for every POST by the request plumbing (app.core.web._csrf); the template renders the
    # token with csrf_token() so that cached pages get a fresh one per visitor.
    class Meta:
        csrf = False

    author_name = StringField(_l("Your name or organization"), validators=[DataRequired(), Length(max=100)])
    body = TextAreaField(_l("Comment"), validators=[DataRequired(), Length(max=5000)])


_PUBLIC_STATUSES = [s.value for s in SectionStatus if s is not SectionStatus.DRAFT]


@bp.route("/")
@public
def home() -> Response:
    return cache.page(
        "portal/home.html",
        lambda: {
            "latest": services.latest_announcements(10),
            "catalogue": services.catalogue_in_force(),
            "categories": [(c.value, CATEGORY_LABELS[c.value]) for c in Category],
            "result_titles": RESULT_TITLES,
        },
    )


@bp.route("/announcements")
@public
def announcements() -> Response:
    def context() -> dict[str, Any]:
        args, errors = load_announcement_args(request.args)
        query = services.AnnouncementQuery(
            q=args["q"],
            category=args["category"],
            status=args["status"],
            region=args["region"] or None,
            date_from=args["date_from"],
            date_to=args["date_to"],
        )
        return {
            "page": services.search_announcements(query, page=args["page"]),
            "query": query,
            "errors": errors,
            "filters": {k: v for k, v in request.args.items() if k != "page" and v and k not in errors},
            "raw": request.args,
            "categories": [(c.value, CATEGORY_LABELS[c.value]) for c in Category],
            "statuses": [(s, STATUS_LABELS[s]) for s in _PUBLIC_STATUSES],
            "regions": services.regions(),
        }

    # Parsed on a cache miss only: a hit is keyed on the full query string.
    return cache.page("portal/announcements.html", context)


@bp.route("/sections/<int:section_id>")
@public
def section(section_id: int) -> Response:

    def context() -> dict[str, Any]:
        sec = services.public_section(section_id)
        return {
            "section": sec,
            "project": sec.project,
            "documents": services.published_documents(sec),
            "amendments": services.amendments(sec),
            "timeline": sec.history,
            "suspensions": sec.suspensions,
        }

    return cache.page("portal/section.html", context)


@bp.route("/sections/<int:section_id>/documents/<int:document_id>")
@public
def document(section_id: int, document_id: int) -> Response:
    """A published document version (published versions never change, so they may be cached long)."""
    doc = services.public_document(section_id, document_id)
    try:
        path = storage.absolute(doc.blob_path)
    except (OSError, ValueError):
        abort(404)
    if not path.exists():
        abort(404)
    resp = send_file(path, mimetype=doc.content_type, as_attachment=True, download_name=doc.filename)
    resp.headers["Cache-Control"] = "public, max-age=86400, immutable"
    resp.headers["X-Content-SHA256"] = doc.sha256
    return resp


@bp.route("/catalogue")
@public
def catalogue() -> Response:
    return cache.page(
        "portal/catalogue.html",
        lambda: {"version": services.catalogue_in_force(), "history": services.catalogue_history()},
    )


@bp.route("/catalogue/<int:number>")
@public
def catalogue_version(number: int) -> Response:
    return cache.page(
        "portal/catalogue.html",
        lambda: {"version": services.catalogue_version(number), "history": services.catalogue_history()},
    )


def _comment_limit() -> str:
    return str(current_app.config.get("PORTAL_COMMENT_RATE_LIMIT") or "20 per hour")


@bp.route("/catalogue/<int:number>/comments", methods=["POST"])
@public
@limiter.limit(_comment_limit, methods=["POST"])
def catalogue_comment(number: int) -> ResponseReturnValue:
    """A comment on a catalogue version during its public comment period (征求意见), from anyone."""
    version = services.catalogue_version(number)
    form = PublicCommentForm()
    if form.validate_on_submit():
        actor = signed_in_user()
        try:
            projects_services.add_catalogue_comment(
                version, actor=actor, body=form.body.data or "", author_name=form.author_name.data or ""
            )
        except DomainError as err:
            db.session.rollback()
            flash(err.message, "error")
        else:
            db.session.commit()
            flash(_("Thank you: your comment is recorded."), "success")
    else:
        flash(_("Write your name and your comment."), "error")
    return redirect(url_for("portal.catalogue_version", number=version.number))


@bp.route("/results/<kind>")
@public
def results(kind: str) -> Response:
    if kind not in services.RESULT_STATES:
        abort(404)
    page_no = max(1, min(request.args.get("page", default=1, type=int) or 1, 100000))
    return cache.page(
        "portal/results.html",
        lambda: {"kind": kind, "page": services.results(kind, page=page_no), "result_titles": RESULT_TITLES},
    )


@bp.route("/prequalification")
@public
def prequalification() -> str:
    """Prequalification notices (资格预审公告) with their periods; applicants apply after signing in."""
    from app.projects.prequal import services as prequal

    return render_template("portal/prequalification.html", rounds=prequal.public_rounds())


@bp.route("/verify")
@public
def verify() -> str:
    """如何验证 / How to verify: what anyone can check without trusting the platform, and with which tools."""
    import base64

    from . import tools

    checkpoint = services.latest_checkpoint()
    return render_template(
        "portal/verify.html",
        draws=services.recent_draws(),
        tools_sha256=tools.archive()[1] if tools.available() else None,
        checkpoint=checkpoint,
        root_b64=base64.b64encode(checkpoint.root_hash).decode() if checkpoint else None,
        origin=current_app.config["AUDIT_ORIGIN"],
    )


@bp.route("/verify/draws")
@public
def verify_draws() -> str:
    """如何验证专家抽取 / How to verify an expert draw: docs/verify-a-draw.md, rendered from the file."""
    from . import procedures

    if not procedures.draw_procedure_available():
        abort(404)
    return render_template(
        "portal/verify_draws.html",
        procedure=procedures.draw_procedure_html(),
        english=str(get_locale() or "").startswith("en"),
    )


@bp.route("/verify/draws.md")
@public
def verify_draws_source() -> Response:
    """The same procedure as the Markdown file itself."""
    from . import procedures

    if not procedures.draw_procedure_available():
        abort(404)
    resp = Response(procedures.draw_procedure_text(), content_type="text/markdown; charset=utf-8")
    resp.headers["Content-Disposition"] = "inline; filename=verify-a-draw.md"
    return resp


@bp.route("/verify/record")
@public
@limiter.limit("60 per minute")
def verify_record() -> str:
    """验证打印件 / Verify a printed record: the link in a PDF's QR code, or a hash and signature typed in."""
    from app.core import printing
    from app.core.web import MAX_ROW_ID

    kind = request.args.get("kind", "")[:40]
    object_id = request.args.get("id", type=int)
    sha256 = request.args.get("sha256", "")[:100].strip().lower()
    signature = request.args.get("sig", "")[:200].strip()
    verdict = None
    if kind or object_id is not None or sha256 or signature:
        if object_id is None or not 0 < object_id <= MAX_ROW_ID:
            verdict = printing.Verdict(None, False, None)
        else:
            verdict = printing.check(kind, object_id, sha256, signature)
    kinds = sorted(((code, k.title()) for code, k in printing.KINDS.items()), key=lambda kv: kv[1])
    return render_template(
        "portal/verify_record.html",
        kinds=kinds,
        kind=kind,
        object_id=object_id,
        sha256=sha256,
        signature=signature,
        verdict=verdict,
    )


@bp.route("/tools/ggzy-platform.zip")
@public
def tools_archive() -> Response:
    """The package with ``ggzy-audit`` and ``ggzy-bid``, for ``python3 -m pip install <this URL>``."""
    from . import tools

    if not tools.available():
        abort(404)
    data, digest = tools.archive()
    resp = Response(data, mimetype="application/zip")
    resp.headers["Content-Disposition"] = "attachment; filename=ggzy-platform.zip"
    resp.headers["X-Content-SHA256"] = digest
    resp.cache_control.max_age = 3600
    return resp


@bp.route("/feed.atom")
@public
def feed() -> Response:
    locale = get_locale()
    lang = "zh-CN" if locale is None or locale.language == "zh" else "en"
    resp = Response(build_feed(services.feed_sections(), lang=lang), mimetype="application/atom+xml")
    resp.headers["Cache-Control"] = "public, max-age=60"
    resp.headers["Vary"] = "Cookie"
    return resp


# -- land and state property listings (挂牌公告, 成交公示, 流拍公告) ------------------------------------


@bp.route("/auctions")
@public
def auctions() -> str:
    """Published listings with their status in words. Not cached: a listing's state moves with the clock
    (the listing period and the countdown end without a request), and the list settles what is due."""
    from app.auctions.services import public as auctions_public

    return render_template("portal/auctions.html", listings=auctions_public.public_listings())


@bp.route("/auctions/<int:listing_id>")
@public
def auction(listing_id: int) -> Response:
    """A listing notice (挂牌公告): the item, periods, prices, deposit, countdown rule and how to register;
    the reserve only as "set or not" until the end. Cached once ended (the page no longer changes); a live
    listing is rendered on every request (its price and countdown move with every bid and with the clock)."""
    from app.auctions.enums import ENDED
    from app.auctions.services import public as auctions_public
    from app.auctions.services.result import next_minimum

    listing = auctions_public.public_listing(listing_id)
    ended = listing.status_enum in ENDED

    def context() -> dict[str, Any]:
        return {
            "listing": listing,
            "item": db.session.get(CatalogueItem, listing.catalogue_item_id),
            "transferor": db.session.get(Organization, listing.owner_org_id),
            "ended": ended,
            "next_minimum": None if ended else next_minimum(listing),
            "bid_count": len(listing.bids),
        }

    if not ended:
        return Response(render_template("portal/auction.html", **context()), mimetype="text/html")
    return cache.page("portal/auction.html", context)


@bp.route("/auctions/<int:listing_id>/result")
@public
def auction_result(listing_id: int) -> Response:
    """The result announcement (成交公示 or 流拍公告) of an ended listing: the price, the winner's name (sold
    only), the opened reserve and every bid in commit order under the bidders' numbers, with its audit leaf
    and a link to its inclusion proof. Final, so cached (invalidated by the audit log like every page)."""
    from app.auctions.services import public as auctions_public
    from app.auctions.services.result import history, winner_identity

    listing = auctions_public.ended_listing(listing_id)
    return cache.page(
        "portal/auction_result.html",
        lambda: {
            "listing": listing,
            "transferor": db.session.get(Organization, listing.owner_org_id),
            "history": history(listing),
            "winner": winner_identity(listing),
        },
    )


@bp.route("/auctions/<int:listing_id>/bids/<int:seq>/proof")
@public
@limiter.limit("60 per minute")
def auction_bid_proof(listing_id: int, seq: int) -> str:
    """The inclusion proof of one bid of an ended listing in the current audit log: the leaf, the tree
    size, the root and the path, to check against a signed checkpoint with the public tools. Not cached:
    the proof is for the log's current size."""
    from app.auctions.services import public as auctions_public

    listing, placed = auctions_public.ended_bid(listing_id, seq)
    return render_template(
        "portal/auction_proof.html",
        listing=listing,
        placed=placed,
        proof=auctions_public.bid_inclusion(placed),
    )


@bp.route("/auctions/<int:listing_id>/bids/<int:seq>/proof.json")
@public
@limiter.limit("60 per minute")
def auction_bid_proof_json(listing_id: int, seq: int) -> Response:
    """The same proof as JSON (the shape of ``/api/v1/auctions/listings/<id>/bids/<seq>/proof``)."""
    from flask import jsonify

    from app.auctions.services import public as auctions_public

    _listing, placed = auctions_public.ended_bid(listing_id, seq)
    return jsonify(auctions_public.bid_inclusion(placed))
