"""Issue 15 item 7: the law is not configuration. Every evaluation setting with a statutory bound, and the
archive retention, may be configured stricter than the statute, never laxer: a laxer value is replaced by the
statute's, with a logged warning naming the article."""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from app.evaluation import archive, services

#: (setting, a laxer value, the statute's value, a stricter value)
BOUNDS = [
    ("EVALUATION_PUBLISH_WITHIN_DAYS", 10, 3, 2),  # 实施条例第54条: publicity within 3 days of the report
    ("EVALUATION_REFUND_DAYS", 30, 5, 3),  # 实施条例第57条: bid security returned within 5 days
    ("EVALUATION_PUBLICITY_DAYS", 1, 3, 5),  # 实施条例第54条: publicity not less than 3 days
    ("EVALUATION_CONTRACT_DAYS", 60, 30, 20),  # 招标投标法第46条: contract within 30 days
]


def test_every_bounded_setting_is_tested() -> None:
    assert {name for name, *_ in BOUNDS} == set(services.STATUTORY_BOUNDS)


@pytest.mark.parametrize(("name", "laxer", "statute", "stricter"), BOUNDS)
def test_a_laxer_setting_gives_way_to_the_statute_with_a_warning(
    app: Flask, caplog: pytest.LogCaptureFixture, name: str, laxer: int, statute: int, stricter: int
) -> None:
    article = services.STATUTORY_BOUNDS[name][2]
    saved = app.config.get(name)
    try:
        with app.app_context():
            app.config[name] = laxer
            with caplog.at_level(logging.WARNING, logger="app.evaluation.services"):
                assert services.setting(name) == statute
            assert any(name in r.getMessage() and article in r.getMessage() for r in caplog.records)
            caplog.clear()
            app.config[name] = stricter
            with caplog.at_level(logging.WARNING, logger="app.evaluation.services"):
                assert services.setting(name) == stricter
            assert not caplog.records
    finally:
        if saved is None:
            app.config.pop(name, None)
        else:
            app.config[name] = saved


def test_the_archive_retention_cannot_be_shortened(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    saved = app.config.get("EVALUATION_ARCHIVE_YEARS")
    try:
        with app.app_context():
            app.config["EVALUATION_ARCHIVE_YEARS"] = 5
            with caplog.at_level(logging.WARNING, logger="app.evaluation.archive"):
                assert archive.retention_years() == archive.RETENTION_YEARS == 15
            assert any("政府采购法第42条" in r.getMessage() for r in caplog.records)
            caplog.clear()
            app.config["EVALUATION_ARCHIVE_YEARS"] = 20
            with caplog.at_level(logging.WARNING, logger="app.evaluation.archive"):
                assert archive.retention_years() == 20
            assert not caplog.records
    finally:
        if saved is None:
            app.config.pop("EVALUATION_ARCHIVE_YEARS", None)
        else:
            app.config["EVALUATION_ARCHIVE_YEARS"] = saved
