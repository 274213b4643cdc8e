"""The printed-record signature and its check (app.core.printing), without a domain."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from flask import Flask

from app.core import printing
from app.core.crypto import public_key


@pytest.fixture
def kind(app: Flask) -> Any:
    held = {7: hashlib.sha256(b"record 7").hexdigest()}
    printing.register("test_record", lambda: "测试记录", held.get)
    yield held
    printing.KINDS.pop("test_record", None)


def test_the_statement_is_plain_text_anyone_can_rebuild(app: Flask, kind: dict[int, str]) -> None:
    sha = kind[7]
    assert (
        printing.statement("test_record", 7, sha.upper())
        == f"ggzy-printed-record-v1\ntest_record\n7\n{sha}\n".encode()
    )
    with app.test_request_context():
        sig = printing.sign("test_record", 7, sha)
        raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
        public_key().verify(raw, printing.statement("test_record", 7, sha))  # raises if not
        assert printing.check("test_record", 7, sha, sig).genuine
        assert printing.check("test_record", 7, sha.upper(), sig).genuine  # as typed from paper
        other = hashlib.sha256(b"record 8").hexdigest()
        assert printing.check(
            "test_record", 7, other, printing.sign("test_record", 7, other)
        ) == printing.Verdict("测试记录", True, False)
        assert printing.check("test_record", 8, sha, sig) == printing.Verdict("测试记录", False, None)
        for bad_sig in ("", "!!", "A" * 300, sig[:-4]):
            assert not printing.check("test_record", 7, sha, bad_sig).signature_ok
        assert printing.check("nope", 7, sha, sig) == printing.Verdict(None, False, None)
        assert printing.check("test_record", 7, "xyz", sig).current is None


def test_a_configured_font_that_is_missing_is_a_clear_error(app: Flask, monkeypatch: Any) -> None:
    monkeypatch.setitem(app.config, "PDF_CJK_FONT", "/nonexistent/font.otf")
    with app.test_request_context(), pytest.raises(printing.PdfUnavailable) as err:
        printing.fonts()
    assert err.value.status == 503 and "未安装中文字体" in err.value.message
