"""Each published section as an OCDS 1.1 release and record (Open Contracting Data Standard).

Mapping (one contracting process per section — 标段/包 — with the section as its single lot):

* ``ocid`` = ``OCDS_PREFIX`` + ``-`` + the section code. ``OCDS_PREFIX`` is configuration; the default
  ``ocds-ggzy01`` stands for the prefix the trading center registers with the Open Contracting Partnership
  before publishing (a prefix is ``ocds-`` + six characters); set the registered one in the environment
  (``OCDS_PREFIX``) — changing it later changes every ocid, so set it once before going live.
* ``tender``: id = section code, value = estimated value (CNY), the ceiling price (最高投标限价) in the
  description, ``procurementMethod`` "open" (公开招标), ``mainProcurementCategory`` from the catalogue
  category (:data:`PROCUREMENT_CATEGORY`), tenderPeriod = documents available → bid deadline, documents =
  every published version with its SHA-256 in the description (OCDS 1.1 has no hash field), amendments =
  numbered clarifications with their diff, ``lots`` = the section (Lots extension).
* ``parties``: the owner (招标人) as ``buyer`` — and ``procuringEntity`` too when it runs the tender itself —
  and the agency (招标代理) as ``procuringEntity``. Bidders appear only once bids are opened (a later issue);
  who obtained the documents never does.
* The release describes the current state; its id changes whenever the state does (publication, amendment,
  status change), so a consumer can tell releases apart. The record carries that release and the compiled
  release (identical content, ``compiled`` tag).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flask import current_app, url_for

from app.accounts.models import Organization
from app.core.clock import CST, now
from app.projects.enums import Category, EvaluationMethod, SectionStatus
from app.projects.models import Section

from . import services

OCDS_VERSION = "1.1"
DEFAULT_PREFIX = "ocds-ggzy01"
LOTS_EXTENSION = (
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_lots_extension/v1.1.5/extension.json"
)
PUBLICATION_POLICY = "https://standard.open-contracting.org/1.1/en/implementation/publication_policy/"

#: Closed OCDS codelist ``procurementCategory`` (goods, works, services) from the catalogue category. Land,
#: mineral and property rights are not procurement; "services" is the closest code and statusDetails and
#: the catalogue item name say what the trade is.
PROCUREMENT_CATEGORY: dict[str, str] = {
    Category.ENGINEERING_CONSTRUCTION.value: "works",
    Category.GOVERNMENT_PROCUREMENT.value: "goods",
    Category.LAND_MINERAL.value: "services",
    Category.STATE_PROPERTY.value: "services",
    Category.OTHER.value: "services",
}

_S = SectionStatus
#: Closed OCDS codelist ``tenderStatus``.
TENDER_STATUS: dict[str, str] = {
    _S.PUBLISHED.value: "active",
    _S.BIDDING_CLOSED.value: "active",
    _S.OPENING.value: "active",
    _S.OPENED.value: "active",
    _S.EVALUATING.value: "active",
    _S.PUBLICITY.value: "active",
    _S.AWARDED.value: "complete",
    _S.ARCHIVED.value: "complete",
    _S.FAILED.value: "unsuccessful",
    _S.CANCELLED.value: "cancelled",
}

#: Titles of the China extension's codes (data in Chinese, the release's language).
OPENING_ITEM_TITLES = {
    "price": "投标报价",
    "duration": "工期",
    "quality": "质量标准",
    "project_manager": "项目经理",
    "delivery": "交货期",
    "warranty": "质保期",
}
EVALUATION_METHOD_TITLES = {
    EvaluationMethod.LOWEST_PRICE.value: "经评审的最低投标价法",
    EvaluationMethod.COMPREHENSIVE.value: "综合评估法",
}


def extensions() -> list[str]:
    """The extensions every package declares: Lots, and this platform's China extension (served here)."""
    return [LOTS_EXTENSION, url_for("portal_api.ocds_extension", name="extension.json", _external=True)]


AWARD_CRITERIA = {
    EvaluationMethod.LOWEST_PRICE.value: "lowestCost",  # 经评审的最低投标价法
    EvaluationMethod.COMPREHENSIVE.value: "ratedCriteria",  # 综合评估法
}


def prefix() -> str:
    return str(current_app.config.get("OCDS_PREFIX") or DEFAULT_PREFIX)


def ocid(section: Section) -> str:
    return f"{prefix()}-{section.code}"


def _date(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(CST).isoformat(timespec="seconds")


def _amount(value: Decimal | None) -> dict[str, Any] | None:
    if value is None:
        return None
    number: int | float = int(value) if value == value.to_integral_value() else float(value)
    return {"amount": number, "currency": "CNY"}


def _party_id(org: Organization) -> str:
    # CN-SAIC: org-id.guide's scheme for the unified social credit code (统一社会信用代码).
    return f"CN-SAIC-{org.credit_code}" if org.credit_code else f"{prefix()}-org-{org.id}"


def _party(org: Organization, roles: list[str]) -> dict[str, Any]:
    party: dict[str, Any] = {"id": _party_id(org), "name": org.name, "roles": roles}
    if org.credit_code:
        party["identifier"] = {"scheme": "CN-SAIC", "id": org.credit_code, "legalName": org.name}
    if org.region:
        party["address"] = {"region": org.region, "countryName": "中国"}
    return party


def _release_id(section: Section) -> str:
    """Changes with every public change of the section: the latest timeline row and amendment number."""
    last_change = max((c.id for c in section.history), default=0)
    last_amendment = max((a.number for a in section.amendments), default=0)
    return f"{ocid(section)}-s{last_change}-a{last_amendment}"


def _tags(section: Section) -> list[str]:
    if section.status == _S.CANCELLED:
        return ["tenderCancellation"]
    if section.amendments:
        return ["tenderAmendment"]
    if section.status == _S.PUBLISHED:
        return ["tender"]
    return ["tenderUpdate"]


def _documents(section: Section) -> list[dict[str, Any]]:
    out = []
    for doc in services.published_documents(section):
        out.append(
            {
                "id": f"doc-{doc.id}",
                "documentType": "biddingDocuments" if doc.amendment_id is None else "tenderNotice",
                "title": f"{doc.name} (v{doc.version})",
                "description": f"SHA-256: {doc.sha256}; {doc.filename}; {doc.size} bytes",
                "url": url_for("portal.document", section_id=section.id, document_id=doc.id, _external=True),
                "datePublished": _date(doc.published_at),
                "format": doc.content_type,
                "language": "zh",
                "relatedLots": [section.code],
            }
        )
    return out


def _amendments(section: Section) -> list[dict[str, Any]]:
    out = []
    for amendment in services.amendments(section):
        description = amendment.body
        if amendment.new_deadline is not None:
            old, new = _date(amendment.old_deadline), _date(amendment.new_deadline)
            description += f"\n\nBid deadline moved from {old} to {new}."
        if amendment.diff:
            description += "\n\n" + amendment.diff
        out.append(
            {
                "id": str(amendment.number),
                "date": _date(amendment.published_at),
                "rationale": amendment.title,
                "description": description,
            }
        )
    return out


def release(
    section: Section, *, tag: list[str] | None = None, release_id: str | None = None
) -> dict[str, Any]:
    """The section's current state as one OCDS 1.1 release."""
    project = section.project
    item = project.catalogue_item
    owner, agency = project.owner_org, project.agency_org
    parties = [_party(owner, ["buyer"] if agency else ["buyer", "procuringEntity"])]
    if agency is not None:
        parties.append(_party(agency, ["procuringEntity"]))
    status = TENDER_STATUS.get(section.status, "active")
    description_lines = [section.notice_text.strip()] if section.notice_text.strip() else []
    if section.ceiling_price is not None:
        description_lines.append(f"最高投标限价 (ceiling price): {section.ceiling_price:.2f} CNY")
    if section.cancel_reason:
        description_lines.append(f"终止原因 (cancellation reason): {section.cancel_reason}")
    if section.failed_reason:
        description_lines.append(f"流标原因 (failure reason): {section.failed_reason}")
    tender: dict[str, Any] = {
        "id": section.code,
        "title": f"{project.name} — {section.name}",
        "description": "\n\n".join(description_lines) or None,
        "status": status,
        "statusDetails": section.status + (" (suspended)" if section.suspended else ""),
        "value": _amount(section.estimated_value),
        "procurementMethod": "open",
        "procurementMethodDetails": "公开招标",
        "mainProcurementCategory": PROCUREMENT_CATEGORY.get(item.category, "services"),
        "awardCriteria": AWARD_CRITERIA.get(section.evaluation_method, "ratedCriteria"),
        "submissionMethod": ["electronicSubmission"],
        "tenderPeriod": {
            "startDate": _date(section.docs_available_from),
            "endDate": _date(section.bid_deadline),
        },
        "enquiryPeriod": {
            "startDate": _date(section.docs_available_from),
            "endDate": _date(section.docs_available_until),
        },
        "eligibilityCriteria": section.qualification or None,
        # China extension (app/portal/ocds_extension)
        "bidSecurity": _amount(section.bid_security) if section.bid_security else None,
        "openingItems": [
            {"id": code, "title": OPENING_ITEM_TITLES.get(code, code)}
            for code in ["price", *[c for c in section.opening_items if c != "price"]]
        ],
        "evaluationMethod": {
            "id": section.evaluation_method,
            "title": EVALUATION_METHOD_TITLES.get(section.evaluation_method, section.evaluation_method),
        },
        "documents": _documents(section),
        "amendments": _amendments(section),
        "lots": [
            {
                "id": section.code,
                "title": section.name,
                "status": status,
                "value": _amount(section.estimated_value),
            }
        ],
        "items": [
            {
                "id": "1",
                "description": f"{item.code} {item.name}",
                "classification": {"scheme": "CN-GGZY-CATALOGUE", "id": item.code, "description": item.name},
                "relatedLot": section.code,
            }
        ],
    }
    if agency is not None:
        tender["procuringEntity"] = {"id": _party_id(agency), "name": agency.name}
    tender = {k: v for k, v in tender.items() if v not in (None, [], {})}
    updated = services.section_updated(section)
    out: dict[str, Any] = {
        "ocid": ocid(section),
        "id": release_id or _release_id(section),
        "date": _date(updated),
        "tag": tag or _tags(section),
        "initiationType": "tender",
        "language": "zh",
        "parties": parties,
        "buyer": {"id": _party_id(owner), "name": owner.name},
        "tender": tender,
    }
    awards = _awards(section, parties)
    if awards:
        out["awards"] = awards
    return out


def _awards(section: Section, parties: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Candidates (pending, during publicity) or the award (active), from the evaluation domain; every
    supplier is also listed in ``parties`` with the ``supplier`` role, under the same party id scheme."""
    from app.core.db import db
    from app.evaluation.services import ocds_awards

    out = []
    for award in ocds_awards(section):
        suppliers = []
        for supplier in award.get("suppliers", []):
            org_id = int(str(supplier["id"]).rsplit("-", 1)[-1])
            org = db.session.get(Organization, org_id)
            if org is None:
                continue
            pid = _party_id(org)
            suppliers.append({"id": pid, "name": org.name})
            existing = next((p for p in parties if p["id"] == pid), None)
            if existing is None:
                parties.append(_party(org, ["supplier"]))
            elif "supplier" not in existing["roles"]:
                existing["roles"].append("supplier")
        cleaned = {k: v for k, v in award.items() if v not in (None, [], {})}
        cleaned["suppliers"] = suppliers
        out.append(cleaned)
    return out


def _publisher() -> dict[str, Any]:
    return {
        "name": str(current_app.config.get("OCDS_PUBLISHER_NAME") or "公共资源交易中心"),
        "uri": url_for("portal.home", _external=True),
    }


def release_package(section: Section) -> dict[str, Any]:
    return releases_package(
        [release(section)], uri=url_for("portal_api.section_release", section_id=section.id, _external=True)
    )


def releases_package(releases: list[dict[str, Any]], *, uri: str) -> dict[str, Any]:
    """An OCDS release package of ``releases`` (one section's, or a page of the bulk crawl)."""
    return {
        "uri": uri,
        "version": OCDS_VERSION,
        "extensions": extensions(),
        "publishedDate": _date(now()),
        "publisher": _publisher(),
        "publicationPolicy": PUBLICATION_POLICY,
        "releases": releases,
    }


def record(section: Section) -> dict[str, Any]:
    """The section's record: its current release and the compiled release."""
    rel = release(section)
    compiled = dict(rel, id=f"{rel['ocid']}-{rel['date']}", tag=["compiled"])
    return {"ocid": rel["ocid"], "releases": [rel], "compiledRelease": compiled}


def record_package(section: Section) -> dict[str, Any]:
    return records_package(
        [record(section)],
        uri=url_for("portal_api.section_record", section_id=section.id, _external=True),
        packages=[url_for("portal_api.section_release", section_id=section.id, _external=True)],
    )


def records_package(records: list[dict[str, Any]], *, uri: str, packages: list[str]) -> dict[str, Any]:
    return {
        "uri": uri,
        "version": OCDS_VERSION,
        "extensions": extensions(),
        "publishedDate": _date(now()),
        "publisher": _publisher(),
        "publicationPolicy": PUBLICATION_POLICY,
        "packages": packages,
        "records": records,
    }
