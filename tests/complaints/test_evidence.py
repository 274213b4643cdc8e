"""Threads and evidence: who reads what, attachment limits and hashes, and the cron command."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
from flask import Flask

from app.complaints import services
from app.complaints.enums import Audience, Matter
from app.complaints.permissions import visible_audiences
from app.core.errors import DomainError

from .conftest import World, cst
from .test_cases import complaint_draft


def _filed(world: World) -> Any:
    case = complaint_draft(world, matter=Matter.OTHER)
    return services.submit_complaint(case, actor=world.bidder)


def test_thread_audiences(world: World) -> None:
    case = _filed(world)
    services.post_message(case, actor=world.bidder, body="只给监管部门看", audience=Audience.FILER)
    services.post_message(case, actor=world.regulator, body="内部意见", audience=Audience.INTERNAL)
    services.post_message(case, actor=world.tenderer, body="被投诉人答辩", audience=Audience.PARTIES)
    seen = {
        who: [m.body for m in case.messages if m.audience in visible_audiences(user, case)]
        for who, user in {
            "filer": world.bidder,
            "respondent": world.tenderer,
            "handler": world.regulator,
        }.items()
    }
    assert seen["filer"] == ["只给监管部门看", "被投诉人答辩"]
    assert seen["respondent"] == ["被投诉人答辩"]
    assert seen["handler"] == ["只给监管部门看", "内部意见", "被投诉人答辩"]
    # a party cannot post an internal note
    msg = services.post_message(case, actor=world.bidder, body="x", audience=Audience.INTERNAL)
    assert msg.audience == "parties"


def test_attachments_are_typed_by_content_limited_and_hashed(world: World) -> None:
    case = _filed(world)
    pdf = b"%PDF-1.7\n" + b"0" * 1000
    att = services.add_attachment(case, actor=world.bidder, stream=io.BytesIO(pdf), filename="../证据.pdf")
    assert att.sha256 == hashlib.sha256(pdf).hexdigest() and att.size == len(pdf)
    assert att.content_type == "application/pdf" and "/" not in att.filename
    with pytest.raises(DomainError, match="PDF"):
        services.add_attachment(case, actor=world.bidder, stream=io.BytesIO(b"MZ\x90\x00"), filename="a.pdf")
    big = io.BytesIO(b"%PDF-" + b"0" * (services.MAX_ATTACHMENT_BYTES + 1))
    with pytest.raises(DomainError, match="10 MB"):
        services.add_attachment(case, actor=world.bidder, stream=big, filename="big.pdf")


def test_power_of_attorney_satisfies_the_agent_rule(world: World) -> None:
    case = complaint_draft(world, matter=Matter.OTHER)
    case.by_agent = True
    with pytest.raises(DomainError) as err:
        services.submit_complaint(case, actor=world.bidder)
    assert "power_of_attorney" in err.value.errors
    att = services.add_attachment(
        case, actor=world.bidder, stream=io.BytesIO(b"%PDF-1.4 x"), filename="委托书.pdf"
    )
    services.set_power_of_attorney(case, att)
    services.submit_complaint(case, actor=world.bidder)
    assert case.status == "submitted"


def test_cron_command_is_idempotent(app: Flask, world: World) -> None:
    from app.core.clock import clock

    _filed(world)
    clock.freeze(cst(2026, 3, 10, 1))
    runner = app.test_cli_runner()
    first = runner.invoke(args=["cases", "tick"])
    assert first.exit_code == 0, first.output
    assert "overdue: 1" in first.output
    second = runner.invoke(args=["cases", "tick"])
    assert "overdue: 0" in second.output and "notices sent: 0" in second.output
