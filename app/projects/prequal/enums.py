"""States of a prequalification round and of an application, stored by value, with the transition table."""

from __future__ import annotations

from enum import StrEnum


class PrequalStatus(StrEnum):
    DRAFT = "draft"  # the notice and documents are being prepared
    PUBLISHED = "published"  # 资格预审公告 public: documents on sale, then applications, then review
    PASSED = "passed"  # results notified, at least 3 qualified: the tender may proceed
    FAILED = "failed"  # results notified, fewer than 3 qualified: a new round is needed (条例 Art. 19)


class PrequalResult(StrEnum):
    PENDING = "pending"  # not reviewed yet
    QUALIFIED = "qualified"  # 通过资格预审
    NOT_QUALIFIED = "not_qualified"  # 未通过资格预审 (with the reason)


TRANSITIONS: dict[PrequalStatus, frozenset[PrequalStatus]] = {
    PrequalStatus.DRAFT: frozenset({PrequalStatus.PUBLISHED}),
    PrequalStatus.PUBLISHED: frozenset({PrequalStatus.PASSED, PrequalStatus.FAILED}),
    PrequalStatus.PASSED: frozenset(),
    PrequalStatus.FAILED: frozenset(),
}

#: The audit action each transition writes.
TRANSITION_ACTIONS: dict[PrequalStatus, str] = {
    PrequalStatus.PUBLISHED: "projects:prequal:publish",
    PrequalStatus.PASSED: "projects:prequal:pass",
    PrequalStatus.FAILED: "projects:prequal:fail",
}
