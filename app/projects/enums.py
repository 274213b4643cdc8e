"""States and kinds of the projects domain, stored by value."""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    """Trading catalogue categories (39号令 Art. 8)."""

    ENGINEERING_CONSTRUCTION = "engineering_construction"  # 工程建设
    GOVERNMENT_PROCUREMENT = "government_procurement"  # 政府采购
    LAND_MINERAL = "land_mineral"  # 土地使用权和矿业权
    STATE_PROPERTY = "state_property"  # 国有产权
    OTHER = "other"  # 其他


class DayUnit(StrEnum):
    """How a period is counted: 日 (calendar days) or 工作日 (working days)."""

    CALENDAR = "calendar"
    WORKING = "working"


class CatalogueStatus(StrEnum):
    DRAFT = "draft"
    COMMENT = "comment"  # open for public comment (征求意见)
    PUBLISHED = "published"  # the version in force
    SUPERSEDED = "superseded"  # was in force, replaced by a later version


class ProjectStatus(StrEnum):
    SUBMITTED = "submitted"  # 进场登记 submitted, waiting for the center
    ACCEPTED = "accepted"
    RETURNED = "returned"  # returned with a reason; the registrant may resubmit


class SectionStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    BIDDING_CLOSED = "bidding_closed"
    OPENING = "opening"
    OPENED = "opened"
    EVALUATING = "evaluating"
    PUBLICITY = "publicity"
    AWARDED = "awarded"
    ARCHIVED = "archived"
    FAILED = "failed"  # 流标
    CANCELLED = "cancelled"  # 终止招标


class Procedure(StrEnum):
    """How a section is procured (SPEC §2 "Beyond open tendering"); the periods of each are in
    :data:`app.projects.rules.PROCEDURE_RULES` with their sources."""

    OPEN = "open"  # 公开招标
    INVITED = "invited"  # 邀请招标 (法 Art. 17; approval, ≥ 3 invited)
    COMPETITIVE_NEGOTIATION = "competitive_negotiation"  # 竞争性谈判 (政府采购法 Art. 30, 38)
    COMPETITIVE_CONSULTATION = "competitive_consultation"  # 竞争性磋商 (财库〔2014〕214号)
    INQUIRY = "inquiry"  # 询价 (政府采购法 Art. 32, 40)
    SINGLE_SOURCE = "single_source"  # 单一来源 (政府采购法 Art. 31; 实施条例 Art. 38)


class EvaluationMethod(StrEnum):
    LOWEST_PRICE = "lowest_price"  # 经评审的最低投标价法
    COMPREHENSIVE = "comprehensive"  # 综合评估法


class OpeningItem(StrEnum):
    """Items every bidder declares in its summary envelope and that are read out at the opening."""

    PRICE = "price"  # always
    DURATION = "duration"  # 工期
    QUALITY = "quality"  # 质量标准
    PROJECT_MANAGER = "project_manager"  # 项目经理
    DELIVERY = "delivery"  # 交货期
    WARRANTY = "warranty"  # 质保期
