"""Roles and permissions as data, and the decorators every route declares.

Deny by default: a view without ``@require(...)`` or ``@public`` is refused by the request guard in
``app.core.web`` and fails the authorization-matrix test.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Role(StrEnum):
    BIDDER = "bidder"
    TENDERER = "tenderer"
    CENTER_STAFF = "center_staff"
    MANAGER = "manager"
    REGULATOR = "regulator"
    EXPERT = "expert"
    SYSADMIN = "sysadmin"


class OrgKind(StrEnum):
    TENDERER = "tenderer"
    AGENCY = "agency"
    BIDDER = "bidder"
    TRADING_CENTER = "trading_center"
    MANAGEMENT_OFFICE = "management_office"
    REGULATOR = "regulator"
    EXPERT_EMPLOYER = "expert_employer"
    PLATFORM_OPERATOR = "platform_operator"


# Which organization kinds each role may belong to. Enforced by the account service and by a CHECK
# constraint on the user table (see app.accounts.models).
ROLE_ORG_KINDS: dict[Role, frozenset[OrgKind]] = {
    Role.BIDDER: frozenset({OrgKind.BIDDER}),
    Role.TENDERER: frozenset({OrgKind.TENDERER, OrgKind.AGENCY}),
    Role.CENTER_STAFF: frozenset({OrgKind.TRADING_CENTER}),
    Role.MANAGER: frozenset({OrgKind.MANAGEMENT_OFFICE}),
    Role.REGULATOR: frozenset({OrgKind.REGULATOR}),
    Role.EXPERT: frozenset({OrgKind.EXPERT_EMPLOYER}),
    Role.SYSADMIN: frozenset({OrgKind.PLATFORM_OPERATOR}),
}

# Roles whose accounts must complete TOTP before anything else.
# Two-factor sign-in is required of these roles (the tenderers because they hold opening-key shares), and of
# every account that has enrolled an authenticator (accounts.services.requires_second_factor).
MFA_REQUIRED_ROLES = frozenset(
    {Role.CENTER_STAFF, Role.MANAGER, Role.REGULATOR, Role.SYSADMIN, Role.TENDERER}
)


class Permission(StrEnum):
    """``scope:resource:action``."""

    ACCOUNT_SELF = "account:self:manage"
    ACCOUNT_TOKENS = "account:tokens:manage"
    ACCOUNT_APPROVE = "account:approvals:decide"
    WORKBENCH_VIEW = "workbench:home:view"
    ADMIN_ORGS = "admin:organizations:manage"
    ADMIN_USERS = "admin:users:manage"
    ADMIN_DEMO_CLOCK = "admin:demo_clock:manage"
    AUDIT_READ = "audit:log:read"
    AUDIT_CHECKPOINT = "audit:checkpoint:create"
    CALENDAR_MANAGE = "calendar:overrides:manage"
    CALENDAR_READ = "calendar:overrides:read"
    # projects: catalogue, registration, sections, publication (app/projects)
    PROJECT_VIEW = "projects:project:view"
    PROJECT_REGISTER = "projects:project:register"
    PROJECT_REVIEW = "projects:project:review"
    SECTION_EDIT = "projects:section:edit"
    SECTION_PUBLISH = "projects:section:publish"
    SECTION_CANCEL = "projects:section:cancel"
    SECTION_SUSPEND = "projects:section:suspend"
    AMENDMENT_PUBLISH = "projects:amendment:publish"
    TENDER_BROWSE = "projects:tender:browse"
    DOCUMENTS_OBTAIN = "projects:documents:obtain"
    QUESTION_ASK = "projects:question:ask"
    QUESTION_ANSWER = "projects:question:answer"
    PREQUAL_MANAGE = "projects:prequal:manage"
    PREQUAL_APPLY = "projects:prequal:apply"
    PREQUAL_VIEW = "projects:prequal:view"
    EXCHANGE_VIEW = "exchange:messages:view"
    EXCHANGE_RETRY = "exchange:messages:retry"
    WEBHOOK_MANAGE = "exchange:webhooks:manage"
    DOCUMENTS_DOWNLOAD = "projects:documents:download"
    OBTAINMENTS_COUNT = "projects:obtainments:count"
    ROOMS_MANAGE = "projects:rooms:manage"
    CATALOGUE_VIEW = "projects:catalogue:view"
    CATALOGUE_COMMENT = "projects:catalogue:comment"
    CATALOGUE_MANAGE = "projects:catalogue:manage"
    # supervision: live monitoring, timelines, alerts, interventions, assessment (app/supervision)
    SUPERVISION_MONITOR = "supervision:monitor:view"
    SUPERVISION_TIMELINE = "supervision:timeline:view"
    SUPERVISION_ALERTS = "supervision:alerts:manage"
    SUPERVISION_INTERVENE = "supervision:interventions:manage"
    SUPERVISION_WITNESS = "supervision:checkpoint:cosign"
    SUPERVISION_ASSESSMENT = "supervision:assessment:view"
    # bidding: sealed envelopes, keys, the opening ceremony (app/bidding)
    BIDDING_SUBMIT = "bidding:envelope:submit"
    BIDDING_KEYS = "bidding:keys:manage"
    BIDDING_CUSTODIAN = "bidding:share:hold"
    BIDDING_CEREMONY = "bidding:ceremony:run"
    BIDDING_ATTEND = "bidding:opening:attend"
    BIDDING_OPENED_READ = "bidding:opened:read"
    BIDDING_SECURITY_PAY = "bidding:security:pay"
    BIDDING_LEDGER_READ = "bidding:ledger:read"
    BIDDING_LEDGER_MANAGE = "bidding:ledger:manage"
    # experts: the pool, verifiable draws, sealed panels, after-service ratings (app/experts)
    EXPERTS_POOL_MANAGE = "experts:pool:manage"
    EXPERTS_SPECIALTIES_READ = "experts:specialties:read"
    EXPERTS_DRAW_REQUEST = "experts:draw:request"
    EXPERTS_DRAW_READ = "experts:draw:read"
    EXPERTS_DRAW_WITNESS = "experts:draw:witness"
    EXPERTS_DRAW_VERIFY = "experts:draw:verify"
    EXPERTS_RATE = "experts:rating:create"
    EXPERTS_SELF = "experts:self:manage"
    # complaints: objections, complaints and reports on statutory clocks (app/complaints)
    COMPLAINTS_OWN = "complaints:case:own"
    COMPLAINTS_FILE = "complaints:case:file"
    COMPLAINTS_READ = "complaints:case:read"
    COMPLAINTS_ANSWER = "complaints:objection:answer"
    COMPLAINTS_HANDLE = "complaints:case:handle"
    COMPLAINTS_DECIDE = "complaints:complaint:decide"
    COMPLAINTS_SUPERVISE = "complaints:supervision:view"
    # evaluation: the drawn panel scores, the tenderer publishes candidates and awards (app/evaluation)
    EVALUATION_SCORE = "evaluation:panel:score"
    EVALUATION_REPORT_READ = "evaluation:report:read"
    EVALUATION_PUBLISH = "evaluation:candidates:publish"
    EVALUATION_AWARD = "evaluation:award:issue"
    EVALUATION_MONITOR = "evaluation:monitor:view"
    EVALUATION_ARCHIVE = "evaluation:archive:create"
    EVALUATION_REPRESENTATIVES = "evaluation:representatives:manage"
    EVALUATION_REPLACE = "evaluation:panel:replace"
    # contracts: the signed contract, its publication and amendments; procurement intentions (app/contracts)
    CONTRACT_MANAGE = "contracts:contract:manage"
    CONTRACT_READ = "contracts:contract:read"
    INTENTION_MANAGE = "contracts:intention:manage"
    # auctions: land and state property listings and timed auctions (app/auctions)
    AUCTION_VIEW = "auctions:listing:view"
    AUCTION_MANAGE = "auctions:listing:manage"
    AUCTION_REVIEW = "auctions:registration:review"
    AUCTION_BID = "auctions:bid:submit"


_ALL_ROLES = frozenset(Role)
_BUSINESS_ROLES = _ALL_ROLES - {Role.SYSADMIN}

_GRANTS: dict[Permission, frozenset[Role]] = {
    Permission.ACCOUNT_SELF: _ALL_ROLES,
    Permission.ACCOUNT_TOKENS: _ALL_ROLES,
    # 监管办分离: business accounts an administrator creates wait for one of these
    # (app/accounts/approvals.py).
    Permission.ACCOUNT_APPROVE: frozenset({Role.CENTER_STAFF, Role.MANAGER, Role.REGULATOR}),
    Permission.WORKBENCH_VIEW: _ALL_ROLES,
    # sysadmin manages accounts and organizations but holds no business permission.
    Permission.ADMIN_ORGS: frozenset({Role.SYSADMIN}),
    Permission.ADMIN_USERS: frozenset({Role.SYSADMIN}),
    Permission.ADMIN_DEMO_CLOCK: frozenset({Role.SYSADMIN}),
    Permission.AUDIT_READ: frozenset({Role.REGULATOR, Role.MANAGER}),
    Permission.AUDIT_CHECKPOINT: frozenset({Role.REGULATOR}),
    Permission.CALENDAR_MANAGE: frozenset({Role.MANAGER}),
    Permission.CALENDAR_READ: _BUSINESS_ROLES,
    # projects: tenderers draft and publish but never review; center staff review and book rooms but never
    # publish; regulators read and suspend; who obtained documents is visible to center staff as a count only.
    Permission.PROJECT_VIEW: frozenset({Role.TENDERER, Role.CENTER_STAFF, Role.MANAGER, Role.REGULATOR}),
    Permission.PROJECT_REGISTER: frozenset({Role.TENDERER}),
    Permission.PROJECT_REVIEW: frozenset({Role.CENTER_STAFF}),
    Permission.SECTION_EDIT: frozenset({Role.TENDERER}),
    Permission.SECTION_PUBLISH: frozenset({Role.TENDERER}),
    Permission.SECTION_CANCEL: frozenset({Role.TENDERER}),
    Permission.SECTION_SUSPEND: frozenset({Role.REGULATOR}),
    Permission.AMENDMENT_PUBLISH: frozenset({Role.TENDERER}),
    Permission.TENDER_BROWSE: _BUSINESS_ROLES - {Role.EXPERT},
    Permission.DOCUMENTS_OBTAIN: frozenset({Role.BIDDER}),
    Permission.QUESTION_ASK: frozenset({Role.BIDDER}),
    Permission.QUESTION_ANSWER: frozenset({Role.TENDERER}),
    Permission.PREQUAL_MANAGE: frozenset({Role.TENDERER}),
    Permission.PREQUAL_APPLY: frozenset({Role.BIDDER}),
    Permission.PREQUAL_VIEW: frozenset(
        {Role.BIDDER, Role.TENDERER, Role.CENTER_STAFF, Role.MANAGER, Role.REGULATOR}
    ),
    Permission.EXCHANGE_VIEW: frozenset({Role.CENTER_STAFF, Role.MANAGER}),
    Permission.EXCHANGE_RETRY: frozenset({Role.CENTER_STAFF}),
    Permission.WEBHOOK_MANAGE: frozenset(
        {Role.BIDDER, Role.TENDERER, Role.CENTER_STAFF, Role.MANAGER, Role.REGULATOR}
    ),
    Permission.DOCUMENTS_DOWNLOAD: frozenset({Role.BIDDER, Role.TENDERER, Role.CENTER_STAFF, Role.REGULATOR}),
    Permission.OBTAINMENTS_COUNT: frozenset({Role.CENTER_STAFF}),
    Permission.ROOMS_MANAGE: frozenset({Role.CENTER_STAFF}),
    Permission.CATALOGUE_VIEW: _BUSINESS_ROLES,
    Permission.CATALOGUE_COMMENT: _BUSINESS_ROLES,
    Permission.CATALOGUE_MANAGE: frozenset({Role.MANAGER}),
    # supervision: regulators do everything; the management office watches (read-only) and assesses staff.
    Permission.SUPERVISION_MONITOR: frozenset({Role.REGULATOR, Role.MANAGER}),
    Permission.SUPERVISION_TIMELINE: frozenset({Role.REGULATOR}),
    Permission.SUPERVISION_ALERTS: frozenset({Role.REGULATOR}),
    Permission.SUPERVISION_INTERVENE: frozenset({Role.REGULATOR}),
    Permission.SUPERVISION_WITNESS: frozenset({Role.REGULATOR}),
    Permission.SUPERVISION_ASSESSMENT: frozenset({Role.REGULATOR, Role.MANAGER}),
    # bidding: bidders submit and attend; center staff run ceremonies (and see only a count before opening);
    # custodians are the staff, regulator and tenderer users named on a section (object check in
    # app/bidding/permissions.py); regulators and staff read envelope details after opening; sysadmin nothing.
    Permission.BIDDING_SUBMIT: frozenset({Role.BIDDER}),
    Permission.BIDDING_KEYS: frozenset({Role.BIDDER}),
    Permission.BIDDING_CUSTODIAN: frozenset({Role.CENTER_STAFF, Role.REGULATOR, Role.TENDERER}),
    Permission.BIDDING_CEREMONY: frozenset({Role.CENTER_STAFF}),
    Permission.BIDDING_ATTEND: frozenset({Role.BIDDER}),
    Permission.BIDDING_OPENED_READ: frozenset({Role.CENTER_STAFF, Role.REGULATOR}),
    # bid security: bidders pay or guarantee; center staff keep the ledger (reconcile, refund, forfeit);
    # regulators read it; who paid stays hidden until the opening (app/bidding/permissions.py).
    Permission.BIDDING_SECURITY_PAY: frozenset({Role.BIDDER}),
    Permission.BIDDING_LEDGER_READ: frozenset({Role.CENTER_STAFF, Role.REGULATOR}),
    Permission.BIDDING_LEDGER_MANAGE: frozenset({Role.CENTER_STAFF}),
    # experts: the office manages the pool but never runs draws; center staff request draws; regulators
    # witness and verify; panels are sealed per object (app/experts/permissions.py); sysadmin nothing.
    Permission.EXPERTS_POOL_MANAGE: frozenset({Role.MANAGER}),
    Permission.EXPERTS_SPECIALTIES_READ: frozenset({Role.MANAGER, Role.CENTER_STAFF, Role.REGULATOR}),
    Permission.EXPERTS_DRAW_REQUEST: frozenset({Role.CENTER_STAFF}),
    Permission.EXPERTS_DRAW_READ: frozenset({Role.CENTER_STAFF, Role.REGULATOR, Role.TENDERER, Role.BIDDER}),
    Permission.EXPERTS_DRAW_WITNESS: frozenset({Role.REGULATOR}),
    Permission.EXPERTS_DRAW_VERIFY: frozenset({Role.REGULATOR}),
    Permission.EXPERTS_RATE: frozenset({Role.CENTER_STAFF, Role.TENDERER}),
    Permission.EXPERTS_SELF: frozenset({Role.EXPERT}),
    # complaints: bidders file; tenderers answer objections; the office and regulators receive, forward,
    # assign and answer reports; only regulators decide complaints (their own industry: object check in
    # app/complaints/permissions.py); center staff and sysadmin nothing.
    Permission.COMPLAINTS_OWN: frozenset({Role.BIDDER, Role.TENDERER}),
    Permission.COMPLAINTS_FILE: frozenset({Role.BIDDER}),
    Permission.COMPLAINTS_READ: frozenset({Role.BIDDER, Role.TENDERER, Role.MANAGER, Role.REGULATOR}),
    Permission.COMPLAINTS_ANSWER: frozenset({Role.TENDERER}),
    Permission.COMPLAINTS_HANDLE: frozenset({Role.MANAGER, Role.REGULATOR}),
    Permission.COMPLAINTS_DECIDE: frozenset({Role.REGULATOR}),
    Permission.COMPLAINTS_SUPERVISE: frozenset({Role.MANAGER, Role.REGULATOR}),
    # evaluation: drawn experts and the tenderer's named representatives score only in their own evaluations
    # (object check in app/evaluation/permissions.py); the tenderer (or its agency) names representatives,
    # publishes candidates and awards its own sections; center staff monitor, replace absent members and
    # archive; regulators read everything; sysadmin nothing.
    Permission.EVALUATION_SCORE: frozenset({Role.EXPERT, Role.TENDERER}),
    Permission.EVALUATION_REPORT_READ: frozenset(
        {Role.EXPERT, Role.TENDERER, Role.CENTER_STAFF, Role.REGULATOR}
    ),
    Permission.EVALUATION_PUBLISH: frozenset({Role.TENDERER}),
    Permission.EVALUATION_AWARD: frozenset({Role.TENDERER}),
    Permission.EVALUATION_MONITOR: frozenset({Role.CENTER_STAFF, Role.REGULATOR}),
    Permission.EVALUATION_ARCHIVE: frozenset({Role.CENTER_STAFF}),
    Permission.EVALUATION_REPRESENTATIVES: frozenset({Role.TENDERER}),
    Permission.EVALUATION_REPLACE: frozenset({Role.CENTER_STAFF}),
    # contracts: the tenderer (or its agency) uploads, publishes and amends its contracts and publishes its
    # procurement intentions; center staff, the office and the regulators read (jurisdiction: object check
    # in app/contracts/permissions.py).
    Permission.CONTRACT_MANAGE: frozenset({Role.TENDERER}),
    Permission.CONTRACT_READ: frozenset({Role.TENDERER, Role.CENTER_STAFF, Role.MANAGER, Role.REGULATOR}),
    Permission.INTENTION_MANAGE: frozenset({Role.TENDERER}),
    # auctions: the transferor lists its item; center staff confirm deposits and qualify bidders; bidders
    # register and bid; the office and regulators watch (object checks in app/auctions/permissions.py).
    Permission.AUCTION_VIEW: frozenset(
        {Role.BIDDER, Role.TENDERER, Role.CENTER_STAFF, Role.MANAGER, Role.REGULATOR}
    ),
    Permission.AUCTION_MANAGE: frozenset({Role.TENDERER}),
    Permission.AUCTION_REVIEW: frozenset({Role.CENTER_STAFF}),
    Permission.AUCTION_BID: frozenset({Role.BIDDER}),
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    role: frozenset(p for p, roles in _GRANTS.items() if role in roles) for role in Role
}


def has_permission(role: Role | str | None, permission: Permission) -> bool:
    if role is None:
        return False
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False


def require(*permissions: Permission) -> Callable[[F], F]:
    """Declare the permissions a route needs (all of them). Checked by the request guard."""
    if not permissions:
        raise ValueError("require() needs at least one permission")

    def mark(view: F) -> F:
        view._permissions = frozenset(permissions)  # type: ignore[attr-defined]
        return view

    return mark


def public(view: F) -> F:
    """Declare a route open to anyone without login (portal, login page, feeds)."""
    view._public = True  # type: ignore[attr-defined]
    return view


def signed_callback(view: F) -> F:
    """Declare a route another system calls with its own signature (a bank's callback): open to anyone, no
    session and so no CSRF token; the view itself refuses a request whose signature does not verify."""
    view._public = True  # type: ignore[attr-defined]
    view._signed_callback = True  # type: ignore[attr-defined]
    return view


def authenticated(view: F) -> F:
    """Declare a route for any signed-in account that has not finished MFA yet (MFA pages, logout)."""
    view._authenticated = True  # type: ignore[attr-defined]
    return view
