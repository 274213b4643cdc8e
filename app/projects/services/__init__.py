"""Business rules of the projects domain, one module per capability:

* :mod:`.catalogue` — the trading catalogue (交易目录) and the statutory floors its items may not go below;
* :mod:`.registration` — project registration (进场登记), the supervising regulator from the industry;
* :mod:`.rooms` — opening rooms and bookings;
* :mod:`.sections` — the section state machine, terms, custodians and re-tendering (重新招标);
* :mod:`.suspension` — suspension (暂停) and resumption, which gives the bidders back the time suspended;
* :mod:`.publication` — the publication checks and the one idempotent publish;
* :mod:`.documents` — tender documents and obtaining them;
* :mod:`.amendments` — clarifications and amendments (澄清/修改) and the deadline they may move;
* :mod:`.questions` — bidders' questions on the documents (答疑), answered as clarifications.

Every function takes the acting ``User`` explicitly, flushes but never commits (the caller commits), and
audits each state change in the same transaction. Callers import this package (``services.transition``…).

Seams for later domains:

* :func:`transition` — the one way to move a section between states (bidding, evaluation, awards call it);
* :data:`PUBLISH_HOOKS` — run by :func:`publish_section` inside the publishing transaction, after the section
  is marked published (the sealed-bids domain appends the opening-key generation, SPEC §3.1, which fills
  ``Section.opening_recipient``);
* :data:`RESUME_GUARDS` — checks that may refuse resuming a suspended section (the complaints domain: an
  objection to the documents still unanswered, 条例 Art. 22).
"""

from __future__ import annotations

from ._common import S, _audit, _ensure_not_suspended, _timeline
from .amendments import publish_amendment, text_diff
from .catalogue import (
    DEFAULT_ITEMS,
    ITEM_FIELDS,
    add_catalogue_comment,
    create_catalogue_version,
    current_catalogue,
    open_catalogue_comment,
    publish_catalogue_version,
    save_catalogue_item,
)
from .documents import (
    DOCUMENT_TYPES,
    MAX_DOCUMENT_BYTES,
    add_document,
    document_filename,
    document_type,
    may_take_part,
    notify_obtainers,
    obtain_documents,
    obtainment_count,
    obtainment_leaf_sealed,
    obtainment_of,
    pending_documents,
    record_download,
    take_part_refusal,
)
from .publication import PUBLISH_HOOKS, PublishResult, publication_checks, publish_section
from .questions import (
    MAX_QUESTION,
    MIN_QUESTION,
    answer_questions,
    ask_question,
    is_overdue,
    may_ask,
    question_leaf_sealed,
    questions_close_on,
    questions_of,
    shown_numbers,
)
from .registration import (
    ProjectInput,
    register_project,
    resubmit_project,
    review_project,
    supervising_regulator,
)
from .rooms import OPENING_SLOTS, SLOT_MINUTES, book_room, create_room, room_bookings
from .sections import (
    REASON_REQUIRED,
    TERMINAL,
    TRANSITIONS,
    SectionTerms,
    can_retender,
    cancel_section,
    check_custodians,
    close_due_sections,
    create_section,
    custodian_side,
    retender_section,
    rule_set,
    successor_of,
    transition,
    update_section,
    visible_sections,
)
from .suspension import RESUME_GUARDS, later_by_at_least, open_suspension, resume_section, suspend_section

__all__ = [
    "DEFAULT_ITEMS",
    "DOCUMENT_TYPES",
    "ITEM_FIELDS",
    "MAX_DOCUMENT_BYTES",
    "MAX_QUESTION",
    "MIN_QUESTION",
    "OPENING_SLOTS",
    "PUBLISH_HOOKS",
    "REASON_REQUIRED",
    "RESUME_GUARDS",
    "SLOT_MINUTES",
    "TERMINAL",
    "TRANSITIONS",
    "ProjectInput",
    "PublishResult",
    "S",
    "SectionTerms",
    "_audit",
    "_ensure_not_suspended",
    "_timeline",
    "add_catalogue_comment",
    "add_document",
    "answer_questions",
    "ask_question",
    "book_room",
    "can_retender",
    "cancel_section",
    "check_custodians",
    "close_due_sections",
    "create_catalogue_version",
    "create_room",
    "create_section",
    "current_catalogue",
    "custodian_side",
    "document_filename",
    "document_type",
    "is_overdue",
    "later_by_at_least",
    "may_ask",
    "may_take_part",
    "notify_obtainers",
    "obtain_documents",
    "obtainment_count",
    "obtainment_leaf_sealed",
    "obtainment_of",
    "open_catalogue_comment",
    "open_suspension",
    "pending_documents",
    "publication_checks",
    "publish_amendment",
    "publish_catalogue_version",
    "publish_section",
    "question_leaf_sealed",
    "questions_close_on",
    "questions_of",
    "record_download",
    "register_project",
    "resubmit_project",
    "resume_section",
    "retender_section",
    "review_project",
    "room_bookings",
    "rule_set",
    "save_catalogue_item",
    "shown_numbers",
    "successor_of",
    "supervising_regulator",
    "suspend_section",
    "take_part_refusal",
    "text_diff",
    "transition",
    "update_section",
    "visible_sections",
]
