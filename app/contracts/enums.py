"""States of the contracts domain, stored by value, with their transition tables."""

from __future__ import annotations

from enum import StrEnum


class ContractStatus(StrEnum):
    SIGNED = "signed"  # the signed contract is uploaded; not public yet
    PUBLISHED = "published"  # 合同公告: public on the portal


class IntentionStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"  # 采购意向公开
    WITHDRAWN = "withdrawn"  # no longer counts for the 30 days before the tender announcement


CONTRACT_TRANSITIONS: dict[ContractStatus, frozenset[ContractStatus]] = {
    ContractStatus.SIGNED: frozenset({ContractStatus.PUBLISHED}),
    ContractStatus.PUBLISHED: frozenset(),
}

INTENTION_TRANSITIONS: dict[IntentionStatus, frozenset[IntentionStatus]] = {
    IntentionStatus.DRAFT: frozenset({IntentionStatus.PUBLISHED}),
    IntentionStatus.PUBLISHED: frozenset({IntentionStatus.WITHDRAWN}),
    IntentionStatus.WITHDRAWN: frozenset(),
}
