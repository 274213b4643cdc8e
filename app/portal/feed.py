"""Atom 1.0 (RFC 4287) feed of tender announcements, built with the standard library's ElementTree.

Ids are tag URIs (RFC 4151) that never change for an announcement — ``tag:<authority>,2026:section/<id>`` —
so a reader recognises an amended announcement as the same entry with a newer ``updated``. The authority
is ``PORTAL_TAG_AUTHORITY`` (configuration; default: the host name the request came to).
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from flask import current_app, request, url_for
from flask_babel import gettext as _

from app.core.clock import CST
from app.projects.models import Section

from . import services
from .labels import category_label, status_label

ATOM_NS = "http://www.w3.org/2005/Atom"
TAG_YEAR = "2026"
_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _authority() -> str:
    configured = current_app.config.get("PORTAL_TAG_AUTHORITY")
    return str(configured or request.host.split(":")[0] or "localhost")


def _rfc3339(value: dt.datetime) -> str:
    return value.astimezone(CST).isoformat(timespec="seconds")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
    if text is not None:
        el.text = text
    return el


def entry_id(section: Section) -> str:
    return f"tag:{_authority()},{TAG_YEAR}:section/{section.id}"


def build_feed(sections: list[Section], *, lang: str) -> bytes:
    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(f"{{{ATOM_NS}}}feed", {"xml:lang": lang})
    _sub(feed, "id", f"tag:{_authority()},{TAG_YEAR}:announcements")
    _sub(feed, "title", _("Tender announcements"))
    _sub(feed, "subtitle", _("Public Resource Trading Platform"))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=url_for("portal.feed", _external=True))
    listing = url_for("portal.announcements", _external=True)
    _sub(feed, "link", rel="alternate", type="text/html", href=listing)
    updated = max((services.section_updated(s) for s in sections), default=_EPOCH)
    _sub(feed, "updated", _rfc3339(updated))
    author = _sub(feed, "author")
    _sub(author, "name", str(current_app.config.get("OCDS_PUBLISHER_NAME") or "公共资源交易中心"))
    _sub(feed, "generator", "ggzy-platform")
    for section in sections:
        project = section.project
        entry = _sub(feed, "entry")
        _sub(entry, "id", entry_id(section))
        _sub(entry, "title", f"{project.name} {section.name}")
        _sub(entry, "updated", _rfc3339(services.section_updated(section)))
        if section.published_at is not None:
            _sub(entry, "published", _rfc3339(section.published_at))
        href = url_for("portal.section", section_id=section.id, _external=True)
        _sub(entry, "link", rel="alternate", type="text/html", href=href)
        category = project.catalogue_item.category
        _sub(entry, "category", term=category, label=category_label(category))
        deadline = _rfc3339(section.bid_deadline) if section.bid_deadline else "—"
        summary = "; ".join(
            [
                f"{_('Code')}: {section.code}",
                f"{_('Status')}: {status_label(section.status)}",
                f"{_('Bid deadline')}: {deadline}",
            ]
        )
        _sub(entry, "summary", summary, type="text")
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))
