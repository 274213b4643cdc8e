"""The zh_CN catalog covers the code: every message the code marks for translation has a Chinese
translation, with the same placeholders. A new English string without a translation fails here, listing
what is missing (the failure message gives the commands to run)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po
from flask import Flask
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "app" / "translations"
# The one Chinese catalog, whatever its folder is called (zh_CN, or zh_Hans_CN as Babel spells zh_CN).
(PO_FILE,) = sorted(TRANSLATIONS.glob("zh*/LC_MESSAGES/messages.po"))
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}

# printf-style conversions: %(name)s, %d, %.2f … ("%%" is a literal percent sign, not a placeholder).
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?([diouxXeEfFgGcrsa%])")


def _placeholders(text: str) -> Counter[tuple[str, str]]:
    return Counter((name, conv) for name, conv in PLACEHOLDER.findall(text) if conv != "%")


def _ids(message_id: str | tuple[str, ...]) -> tuple[str, ...]:
    return message_id if isinstance(message_id, tuple) else (message_id,)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """What ``pybabel extract -F babel.cfg -k _l -k lazy_gettext app`` produces (written to a temp dir)."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    catalog = Catalog(locale=None, charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT / "app"), method_map, options_map, keywords=KEYWORDS
    ):
        catalog.add(message, None, [(f"app/{filename}", lineno)], auto_comments=comments, context=context)
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    with open(pot, "wb") as fh:
        write_po(fh, catalog)
    with open(pot, "rb") as fh:
        return read_po(fh)


@pytest.fixture(scope="module")
def committed() -> Catalog:
    with open(PO_FILE, "rb") as fh:
        return read_po(fh, locale="zh_CN")


def test_extraction_finds_the_ui(extracted: Catalog) -> None:
    # Guards the test itself: a broken babel.cfg would extract nothing and pass vacuously.
    ids = {m.id for m in extracted if m.id}
    assert {"Sign in", "Workbench", "Audit log"} <= ids


def test_every_message_has_a_chinese_translation(extracted: Catalog, committed: Catalog) -> None:
    missing = []
    for message in extracted:
        if not message.id:
            continue
        translated = committed.get(message.id, context=message.context)
        strings = _ids(translated.string) if translated is not None else ()
        if translated is None or translated.fuzzy or not strings or not all(s.strip() for s in strings):
            where = ", ".join(f"{path}:{line}" for path, line in message.locations[:2])
            missing.append(f"{_ids(message.id)[0]!r} ({where})")
    assert not missing, (
        f"{len(missing)} message(s) have no zh_CN translation in {PO_FILE.relative_to(ROOT)}. Run\n"
        "  pybabel extract -F babel.cfg -k _l -k lazy_gettext -o /tmp/messages.pot app\n"
        "  pybabel update -i /tmp/messages.pot -d app/translations -l zh_CN --no-fuzzy-matching\n"
        "then translate:\n  " + "\n  ".join(missing)
    )


def test_translations_keep_the_placeholders(committed: Catalog) -> None:
    wrong = []
    for message in committed:
        if not message.id or not message.string:
            continue
        expected = _placeholders(_ids(message.id)[0])
        for text in _ids(message.string):
            if text and _placeholders(text) != expected:
                wrong.append(f"{_ids(message.id)[0]!r} → {text!r}")
    assert not wrong, "placeholders differ between msgid and msgstr:\n  " + "\n  ".join(wrong)


def test_catalog_passes_babel_checks(committed: Catalog) -> None:
    problems = [f"{m.id!r}: {'; '.join(map(str, errors))}" for m, errors in committed.check() if errors]
    assert not problems, "\n".join(problems)


def test_the_app_serves_the_chinese_catalog(app: Flask) -> None:
    """Chinese is the default locale, and Flask-Babel finds the compiled catalog for it. Babel reads "zh_CN"
    as zh_Hans_CN, so a catalog folder Flask-Babel does not look in leaves every page in English."""
    from flask_babel import get_locale, gettext

    with app.test_request_context("/"):
        locale = str(get_locale())
        assert gettext("Sign in") == "登录", (
            f"the UI is not translated: Flask-Babel looks for {TRANSLATIONS.name}/{locale}/LC_MESSAGES/"
            f"messages.mo (or {locale.split('_')[0]}/…); the catalog is {PO_FILE.relative_to(ROOT)}. "
            "Compile it with `make translations` and make sure the folder matches."
        )


def test_the_footer_clock_is_one_sentence_in_each_language(client: FlaskClient, db_session: object) -> None:
    """The server time at the foot of every page reads as a sentence of its language, punctuation
    included: 服务器时间：…（北京时间） in Chinese, "Server time: … (China Standard Time)" in English."""
    footer = re.compile(r'<p>([^<]*)<time datetime="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</time>([^<]*)</p>')
    zh = footer.search(client.get("/auth/login").get_data(as_text=True))
    assert zh and zh.groups() == ("服务器时间：", "（北京时间）")
    with client.session_transaction() as session:
        session["locale"] = "en"
    en = footer.search(client.get("/auth/login").get_data(as_text=True))
    assert en and en.groups() == ("Server time: ", " (China Standard Time)")
