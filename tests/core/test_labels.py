"""The label registry covers every code: each value of each enum, each audit action and permission written in
the code (``audit.record("x:y:z")``, also when built from an enum), each audit object type and case event;
every label has Chinese; an unknown code is never shown raw."""

from __future__ import annotations

import ast
import enum
import importlib
import logging
import pkgutil
import re
from pathlib import Path

import pytest
from flask import Flask
from flask_babel import force_locale

import app as app_pkg
from app.core import labels
from app.core.labels import label, tables

ROOT = Path(app_pkg.__file__).parent

# enum class name (module-qualified) → registry kind
ENUM_KINDS = {
    "app.auctions.enums.ListingKind": "listing_kind",
    "app.auctions.enums.ListingStatus": "listing_status",
    "app.auctions.enums.RegistrationStatus": "registration_status",
    "app.auctions.enums.BidPhase": "bid_phase",
    "app.auctions.enums.UnsoldReason": "unsold_reason",
    "app.bidding.enums.CeremonyStatus": "ceremony_status",
    "app.bidding.enums.DecryptStatus": "decrypt_status",
    "app.bidding.enums.EntryStatus": "entry_status",
    "app.bidding.enums.EnvelopeKind": "envelope_kind",
    "app.bidding.enums.EnvelopeStatus": "envelope_status",
    "app.bidding.enums.KeyAlgorithm": "key_algorithm",
    "app.bidding.enums.SecurityForm": "security_form",
    "app.bidding.enums.SecurityStatus": "security_status",
    "app.bidding.enums.ForfeitureGround": "forfeiture_ground",
    "app.bidding.enums.BankDirection": "bank_direction",
    "app.bidding.enums.MovementKind": "movement_kind",
    "app.bidding.enums.SmeSize": "sme_size",
    "app.evaluation.enums.Declaration": "declaration",
    "app.evaluation.enums.EvaluationStatus": "evaluation_status",
    "app.evaluation.enums.FileKind": "file_kind",
    "app.evaluation.enums.NoticeKind": "notice_kind",
    "app.evaluation.enums.ReportDecision": "report_decision",
    "app.projects.enums.CatalogueStatus": "catalogue_status",
    "app.projects.enums.Category": "category",
    "app.projects.enums.DayUnit": "day_unit",
    "app.projects.enums.EvaluationMethod": "evaluation_method",
    "app.projects.enums.OpeningItem": "opening_item",
    "app.projects.enums.Procedure": "procedure",
    "app.projects.prequal.enums.PrequalResult": "prequal_result",
    "app.projects.prequal.enums.PrequalStatus": "prequal_status",
    "app.projects.enums.ProjectStatus": "project_status",
    "app.projects.enums.SectionStatus": "section_status",
    "app.supervision.enums.AlertRule": "alert_rule",
    "app.supervision.enums.AlertStatus": "alert_status",
    "app.supervision.enums.NoticeStatus": "supervision_notice_status",
    "app.experts.enums.SpecialtyCategory": "specialty_category",
    "app.experts.enums.ExpertStatus": "expert_status",
    "app.experts.enums.TitleLevel": "title_level",
    "app.experts.enums.ConflictRelation": "conflict_relation",
    "app.experts.enums.RegionScope": "region_scope",
    "app.experts.enums.DrawStatus": "draw_status",
    "app.experts.enums.RoundStatus": "round_status",
    "app.experts.enums.SeatKind": "seat_kind",
    "app.experts.enums.SeatStatus": "seat_status",
    "app.experts.enums.ExclusionReason": "exclusion_reason",
    "app.experts.enums.EmploymentSource": "employment_source",
    "app.complaints.enums.CaseKind": "case_kind",
    "app.complaints.enums.Regime": "regime",
    "app.contracts.enums.ContractStatus": "contract_status",
    "app.contracts.enums.IntentionStatus": "intention_status",
    "app.complaints.enums.Matter": "matter",
    "app.complaints.enums.CaseStatus": "case_status",
    "app.complaints.enums.Remedy": "remedy",
    "app.complaints.enums.PauseReason": "pause_reason",
    "app.complaints.enums.Audience": "audience",
    "app.complaints.enums.TransferKind": "transfer_kind",
    "app.complaints.enums.NoticeKind": "case_notice",
    "app.accounts.enums.Industry": "industry",
    "app.core.permissions.OrgKind": "org_kind",
    "app.core.permissions.Role": "role",
    "app.core.permissions.Permission": "action",
}

ACTION = re.compile(r"^[a-z]+:[a-z_]+:[a-z_]+$")


def _all_enums() -> dict[str, type[enum.Enum]]:
    for info in pkgutil.walk_packages([str(ROOT)], "app."):
        if info.name.endswith(("enums", "permissions")):
            importlib.import_module(info.name)
    found: dict[str, type[enum.Enum]] = {}
    pending: list[type] = [enum.StrEnum]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            pending.append(sub)
            if sub.__module__.startswith("app."):
                found[f"{sub.__module__}.{sub.__qualname__}"] = sub
    return found


def _sources() -> list[ast.AST]:
    return [ast.parse(p.read_text(encoding="utf-8")) for p in sorted(ROOT.rglob("*.py"))]


def test_every_enum_value_has_a_label(app: Flask) -> None:
    with app.test_request_context():
        LABELS = tables()
    enums = _all_enums()
    assert set(enums) <= set(ENUM_KINDS), f"enums without a registry kind: {set(enums) - set(ENUM_KINDS)}"
    missing = [
        f"{name}.{member.name}"
        for name, cls in enums.items()
        for member in cls
        if str(member.value) not in LABELS[ENUM_KINDS[name]]
    ]
    assert not missing, missing


def test_every_action_in_the_code_has_a_label(app: Flask) -> None:
    """Every ``domain:object:verb`` string in the code (audit actions, permissions), also the ones built
    with an f-string from an enum (``experts:expert:{status}``)."""
    from app.experts.enums import ExpertStatus

    codes = set()
    for tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and ACTION.match(node.value):
                codes.add(node.value)
            # "evaluation:report:" + ("sign" if sign else "dissent")
            if (
                isinstance(node, ast.BinOp)
                and isinstance(node.left, ast.Constant)
                and isinstance(node.left.value, str)
                and re.match(r"^[a-z]+:[a-z_]+:$", node.left.value)
            ):
                right = node.right
                ends = [right.body, right.orelse] if isinstance(right, ast.IfExp) else [right]
                assert all(isinstance(e, ast.Constant) for e in ends), ast.unparse(node)
                codes |= {node.left.value + e.value for e in ends if isinstance(e, ast.Constant)}
            if isinstance(node, ast.JoinedStr) and ast.unparse(node) == "f'experts:expert:{to.value}'":
                codes |= {f"experts:expert:{s.value}" for s in ExpertStatus}
    codes.discard("scope:subject:action")  # a docstring's example
    assert len(codes) > 150
    with app.test_request_context():
        missing = sorted(codes - set(tables()["action"]))
    assert not missing, missing


def test_dynamic_audit_actions_are_the_ones_the_test_knows() -> None:
    """An ``audit.record`` whose action is neither a literal nor passed through a known helper would escape
    the test above: list them here when adding one."""
    known = {
        "action",
        "'experts:seat:confirm' if accept else 'experts:seat:decline'",
        "'auctions:registration:qualify' if accept else 'auctions:registration:reject'",
        "'experts:seat:recuse' if status is SeatStatus.RECUSED else 'experts:seat:absent'",
        "f'experts:expert:{to.value}'",
        "RECORD_LEAF_ACTION",  # "bidding:opening:publish", a literal in app/bidding/receipts.py
        "dead_action",  # app/exchange/services.py::attempt: "exchange:message:dead" / "exchange:webhook:dead"
        "'bidding:validity:accept' if accept else 'bidding:validity:refuse'",
    }
    dynamic = set()
    for tree in _sources():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "record"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "audit"
                and node.args
                and not isinstance(node.args[0], ast.Constant)
            ):
                dynamic.add(ast.unparse(node.args[0]))
    assert dynamic <= known, dynamic - known


def test_every_audit_object_type_and_case_event_has_a_label(app: Flask) -> None:
    with app.test_request_context():
        LABELS = tables()
    types, events = set(), set()
    for tree in _sources():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.keyword)
                and node.arg == "object_type"
                and isinstance(node.value, ast.Constant)
            ):
                types.add(node.value.value)
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "_event"
                and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
            ):
                events.add(node.args[1].value)
    assert types and events
    assert not types - set(LABELS["audit_object"]), types - set(LABELS["audit_object"])
    assert not events - set(LABELS["case_event"]), events - set(LABELS["case_event"])
    from app.complaints.enums import NoticeKind

    assert {f"notice:{k.value}" for k in NoticeKind} <= set(LABELS["case_event"])


def test_every_label_reads_in_chinese(app: Flask) -> None:
    latin = re.compile(r"[A-Za-z]{3,}")
    allowed = {"Ed25519", "API", "age"}  # product names
    with app.test_request_context(), force_locale("zh_CN"):
        untranslated = [
            f"{kind} {value}: {label(kind, value)}"
            for kind, table in tables().items()
            for value in table
            if any(w not in allowed for w in latin.findall(label(kind, value)))
        ]
    assert not untranslated, untranslated


def test_an_unknown_code_is_logged_and_never_shown(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    with app.test_request_context(), force_locale("zh_CN"), caplog.at_level(logging.WARNING, labels.__name__):
        shown = label("section_status", "teleported")
        assert label("action", "x:y:z") == shown
        assert label("role", None) == ""
    assert "teleported" not in shown and shown
    assert "no label for section_status 'teleported'" in caplog.text


def test_every_alert_rule_names_its_legal_basis_in_words(app: Flask) -> None:
    from app.supervision.alerts import RULES

    with app.test_request_context():
        assert {basis for basis, _desc in RULES.values()} <= set(tables()["legal_basis"])


def test_every_draw_check_has_a_label(app: Flask) -> None:
    names = set()
    for tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Check" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant):
                    names.add(first.value)
    assert len(names) > 10
    with app.test_request_context():
        assert not names - set(tables()["draw_check"]), names - set(tables()["draw_check"])


def test_every_field_a_refusal_names_has_a_label(app: Flask) -> None:
    """``errors={"backup": [...]}``: the page names the field in words, never ``backup:``."""
    from app.core.labels import error_details

    keys = set()
    for tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "errors" and isinstance(node.value, ast.Dict):
                keys |= {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
            # errors["field"] = [...]; errors.setdefault("field", ...)
            if (
                isinstance(node, ast.Subscript)
                and isinstance(node.value, ast.Name)
                and node.value.id == "errors"
                and isinstance(node.slice, ast.Constant)
            ):
                keys.add(node.slice.value)
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "setdefault"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "errors"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                keys.add(node.args[0].value)
            # the fields a form requires, listed one by one when missing (COMPLAINT_REQUIRED = ("facts", ...))
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id.endswith("_REQUIRED") for t in node.targets)
                and isinstance(node.value, ast.Tuple)
            ):
                keys |= {e.value for e in node.value.elts if isinstance(e, ast.Constant)}
    assert len(keys) > 20
    with app.test_request_context(), force_locale("zh_CN"):
        assert not keys - set(tables()["field"]), keys - set(tables()["field"])
        assert error_details({"backup": ["必填。"]}) == "B角承办人: 必填。"
