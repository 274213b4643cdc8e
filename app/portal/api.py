"""Open data under ``/api/v1/public``: published sections (cursor-paginated in publication order), section
detail, each section as OCDS 1.1 release and record packages, and the trading catalogue. No login."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Response, jsonify, send_file, url_for
from flask_babel import gettext as _
from flask_smorest import Blueprint

from app.core.errors import NotFound
from app.core.permissions import public
from app.projects.models import Section

from . import bulk, ocds, services
from .schemas import (
    CatalogueHistoryOut,
    CatalogueVersionOut,
    CrawlArgs,
    OcdsPageArgs,
    SectionDetailOut,
    SectionPageOut,
)

blp = Blueprint(
    "portal_api",
    __name__,
    url_prefix="/api/v1/public",
    description="Open data (no login): sections, OCDS, catalogue",
)


def _summary(section: Section, seq: int | None) -> dict[str, Any]:
    project = section.project
    return {
        "seq": seq,
        "id": section.id,
        "ocid": ocds.ocid(section),
        "code": section.code,
        "name": section.name,
        "project_code": project.code,
        "project_name": project.name,
        "category": project.catalogue_item.category,
        "region": project.region,
        "status": section.status,
        "suspended": section.suspended,
        "published_at": section.published_at,
        "docs_available_from": section.docs_available_from,
        "docs_available_until": section.docs_available_until,
        "bid_deadline": section.bid_deadline,
        "estimated_value": section.estimated_value,
        "ceiling_price": section.ceiling_price,
        "url": url_for("portal.section", section_id=section.id, _external=True),
        "ocds_release_url": url_for("portal_api.section_release", section_id=section.id, _external=True),
    }


@blp.route("/sections")
@blp.arguments(CrawlArgs, location="query")
@blp.response(200, SectionPageOut)
@public
def sections(args: dict[str, Any]) -> dict[str, Any]:
    """Published sections in publication order, resumable with ``next_cursor``.

    A crawler that starts without a cursor and keeps following ``next_cursor`` sees every published section
    exactly once, also while sections are being published during the crawl: the order is the commit order
    of the publications (their audit-log leaf index), so nothing can appear behind the cursor later.
    When ``has_more`` is false, keep the cursor and poll with it later for newly published sections.
    Each item shows the section's current state."""
    page = services.crawl_sections(args["cursor"], limit=args["limit"])
    return {
        "data": [_summary(section, seq) for seq, section in page.items],
        "next_cursor": page.next_cursor,
        "has_more": page.has_more,
    }


@blp.route("/sections/<int:section_id>")
@blp.response(200, SectionDetailOut)
@public
def section_detail(section_id: int) -> dict[str, Any]:
    """One published section: terms, published documents with SHA-256, amendments, status timeline."""
    section = services.public_section(section_id)
    project = section.project
    parties = [{"name": project.owner_org.name, "role": "tenderer"}]
    if project.agency_org is not None:
        parties.append({"name": project.agency_org.name, "role": "agency"})
    out = _summary(section, services.publication_sequence(section))
    out.update(
        notice_text=section.notice_text,
        bid_security=section.bid_security,
        qualification=section.qualification,
        evaluation_method=section.evaluation_method,
        procedure=section.procedure,
        online_only=section.online_only,
        cancel_reason=section.cancel_reason,
        failed_reason=section.failed_reason,
        parties=parties,
        documents=[
            {
                "id": d.id,
                "name": d.name,
                "version": d.version,
                "filename": d.filename,
                "content_type": d.content_type,
                "size": d.size,
                "sha256": d.sha256,
                "published_at": d.published_at,
                "url": url_for("portal.document", section_id=section.id, document_id=d.id, _external=True),
            }
            for d in services.published_documents(section)
        ],
        amendments=services.amendments(section),
        timeline=section.history,
    )
    return out


@blp.route("/sections/<int:section_id>/ocds/release-package")
@blp.response(200)
@public
def section_release(section_id: int) -> dict[str, Any]:
    """The section as an OCDS 1.1 release package (one release: the current state)."""
    return ocds.release_package(services.public_section(section_id))


@blp.route("/sections/<int:section_id>/ocds/record-package")
@blp.response(200)
@public
def section_record(section_id: int) -> dict[str, Any]:
    """The section as an OCDS 1.1 record package (its releases and the compiled release)."""
    return ocds.record_package(services.public_section(section_id))


@blp.route("/catalogue")
@blp.response(200, CatalogueVersionOut)
@public
def catalogue() -> Any:
    """The trading catalogue in force, with each item's statutory periods."""
    version = services.catalogue_in_force()
    if version is None:
        raise NotFound(_("No trading catalogue is in force yet."))
    return version


@blp.route("/catalogue/versions")
@blp.response(200, CatalogueHistoryOut)
@public
def catalogue_versions() -> dict[str, Any]:
    """Every public catalogue version (open for comment, in force, superseded), newest first."""
    return {"data": services.catalogue_history()}


# -- bulk open data (OCDS) ---------------------------------------------------------------------------------

EXTENSION_DIR = Path(__file__).parent / "ocds_extension"


def _ocds_page(args: dict[str, Any], endpoint: str) -> tuple[list[Section], str, str | None]:
    """The page's sections (filtered by ``since``), the cursor to continue from, and the next page's URL."""
    page = services.crawl_sections(args["cursor"], limit=args["limit"])
    since = args["since"]
    sections = [s for _seq, s in page.items if since is None or services.section_updated(s) >= since]
    query: dict[str, Any] = {"cursor": page.next_cursor, "limit": args["limit"]}
    if since is not None:
        query["since"] = since.isoformat()
    following = url_for(endpoint, **query, _external=True) if page.has_more else None
    return sections, page.next_cursor, following


def _paged(package: dict[str, Any], cursor: str, following: str | None) -> Response:
    if following:
        package["links"] = {"next": following}  # OCDS pagination guidance: links.next
    resp = jsonify(package)
    resp.headers["X-Next-Cursor"] = cursor  # poll with it later for sections published after this page
    if following:
        resp.headers["Link"] = f'<{following}>; rel="next"'
    return resp


@blp.route("/ocds/release-package")
@blp.arguments(OcdsPageArgs, location="query")
@blp.response(200)
@public
def ocds_releases(args: dict[str, Any]) -> Response:
    """Every published section's current release, in publication (commit) order, as OCDS 1.1 release
    packages of ``limit`` releases. Follow ``links.next`` (also the ``Link`` header) to the end; keep the
    ``X-Next-Cursor`` header to poll for later publications; ``since`` keeps only sections whose
    announcement changed at or after that instant (incremental harvests)."""
    sections, cursor, following = _ocds_page(args, "portal_api.ocds_releases")
    package = ocds.releases_package(
        [ocds.release(s) for s in sections], uri=url_for("portal_api.ocds_releases", _external=True)
    )
    return _paged(package, cursor, following)


@blp.route("/ocds/record-package")
@blp.arguments(OcdsPageArgs, location="query")
@blp.response(200)
@public
def ocds_records(args: dict[str, Any]) -> Response:
    """Every published section's record (release and compiled release) as OCDS 1.1 record packages, paged
    like the release packages."""
    sections, cursor, following = _ocds_page(args, "portal_api.ocds_records")
    package = ocds.records_package(
        [ocds.record(s) for s in sections],
        uri=url_for("portal_api.ocds_records", _external=True),
        packages=[url_for("portal_api.section_release", section_id=s.id, _external=True) for s in sections],
    )
    return _paged(package, cursor, following)


@blp.route("/ocds/bulk")
@blp.response(200)
@public
def ocds_bulk_index() -> Response:
    """The daily bulk files (JSON Lines, gzip): each day's manifest with its SHA-256, size, number of
    releases and Ed25519 signature (key: ``/api/v1/audit/keys``), newest first."""
    return jsonify({"data": bulk.manifests()})


@blp.route("/ocds/bulk/<name>")
@blp.response(200)
@public
def ocds_bulk_file(name: str) -> Response:
    """A bulk file or its manifest, by the name the index gives."""
    path = bulk.bulk_path(name)
    if path is None:
        raise NotFound(_("No such bulk file."))
    mimetype = "application/gzip" if name.endswith(".gz") else "application/json"
    return send_file(
        path, mimetype=mimetype, as_attachment=name.endswith(".gz"), download_name=name, max_age=300
    )


@blp.route("/ocds/extension/<name>")
@blp.response(200)
@public
def ocds_extension(name: str) -> Response:
    """The China extension (投标保证金, 开标唱标内容, 评标办法): ``extension.json`` and its
    ``release-schema.json`` patch."""
    if name not in {"extension.json", "release-schema.json"}:
        raise NotFound(_("No such extension file."))
    resp = Response((EXTENSION_DIR / name).read_bytes(), mimetype="application/json")
    resp.cache_control.max_age = 3600
    return resp
