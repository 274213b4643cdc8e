"""Issue 17: the decision on a complaint as a signed PDF (投诉处理决定书)."""

from __future__ import annotations

from typing import Any

from flask import Flask

from app.complaints import printing, services
from app.complaints.enums import Matter
from app.core.permissions import Role
from tests import printed
from tests.factories import login, make_user

from .conftest import World
from .test_cases import complaint_draft


def _path(link: str) -> str:
    return "/" + link.split("://", 1)[1].split("/", 1)[1]


def test_the_decision_prints_as_a_signed_pdf_for_whoever_reads_the_case(app: Flask, world: World) -> None:
    case = complaint_draft(world, matter=Matter.OTHER)
    services.submit_complaint(case, actor=world.bidder)
    services.accept_complaint(case, actor=world.regulator)
    url = f"/complaints/cases/{case.id}/decision.pdf"
    filer = app.test_client()
    login(filer, world.bidder)
    assert filer.get(url).status_code == 404  # not decided yet
    services.decide_complaint(
        case,
        services.DecisionInput(upheld=False, decision="经调查，投诉事项缺乏事实依据。\n依法驳回投诉。"),
        actor=world.regulator,
    )
    page = filer.get(f"/complaints/cases/{case.id}").get_data(as_text=True)
    assert url in page and "下载PDF" in page
    resp = filer.get(url)
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    pdf = printed.read(resp.data)
    sha256 = printing.decision_sha256(case)
    assert "投诉处理决定书" in pdf.text and "依法驳回投诉" in pdf.text and case.number in pdf.text
    assert sha256 in pdf.text and pdf.params["kind"] == "case_decision" and pdf.params["sha256"] == sha256
    assert pdf.qr == printed.segno_modules(pdf.link)
    regulator = app.test_client()
    login(regulator, world.regulator)
    assert regulator.get(url).mimetype == "application/pdf"
    for user in (world.bidder2, world.regulator2, make_user(Role.TENDERER)):
        other = app.test_client()
        login(other, user)
        assert other.get(url).status_code in {403, 404}, user.role
    assert app.test_client().get(url).status_code in {302, 401}

    english = printed.read(filer.get(url, query_string={"lang": "en"}).data)
    assert "Decisiononthecomplaint" in english.text and sha256 in english.text

    anon = app.test_client()
    assert 'id="verdict-genuine"' in anon.get(_path(pdf.link)).get_data(as_text=True)
    # publishing does not change the record; altering the decision does
    services.publish_decision(case, actor=world.regulator)
    assert 'id="verdict-genuine"' in anon.get(_path(pdf.link)).get_data(as_text=True)
    case.decision = "依法支持投诉。"
    page = anon.get(_path(pdf.link)).get_data(as_text=True)
    assert 'id="verdict-outdated"' in page and 'id="verdict-signature"' not in page
    # typed in by hand, with a typo in the signature
    sig = pdf.params["sig"]
    typo = sig[:-2] + ("xx" if sig[-2:] != "xx" else "yy")  # never the signature itself
    typed = anon.get(
        "/portal/verify/record",
        query_string={"kind": "case_decision", "id": case.id, "sha256": sha256, "sig": typo},
    ).get_data(as_text=True)
    assert 'id="verdict-signature"' in typed
    for bad in ({"kind": "case_decision", "id": "x"}, {"kind": "nope", "id": 1, "sha256": "zz", "sig": "%%"}):
        resp = anon.get("/portal/verify/record", query_string=bad)
        assert resp.status_code == 200 and 'id="verdict-rejected"' in resp.get_data(as_text=True)


def test_without_the_cjk_font_the_pdf_is_a_clear_error_not_a_crash(
    app: Flask, world: World, monkeypatch: Any
) -> None:
    case = complaint_draft(world, matter=Matter.OTHER)
    services.submit_complaint(case, actor=world.bidder)
    services.accept_complaint(case, actor=world.regulator)
    services.decide_complaint(
        case, services.DecisionInput(upheld=False, decision="驳回。"), actor=world.regulator
    )
    monkeypatch.setitem(app.config, "PDF_CJK_FONT", "/nonexistent/NotoSansCJK-Regular.ttc")
    filer = app.test_client()
    login(filer, world.bidder)
    resp = filer.get(f"/complaints/cases/{case.id}/decision.pdf")
    assert resp.status_code == 503 and "未安装中文字体" in resp.get_data(as_text=True)
