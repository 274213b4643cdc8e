"""The language crawl: headless Chromium signs in as every demo role, follows the links of the navigation and
the workbench breadth-first within the site, and fails listing page and text for what a reader must never see:
codes (``snake_case``, ``colon:codes``), UTC ISO timestamps, English words on a Chinese page, Chinese on an
English page (outside the data people typed: organization, project and person names). The same pass runs
axe-core (the npm package locked in ``tests/js``) on every Chinese page and fails on any serious or critical
accessibility violation, listing rule, page and element.

One screenshot per Chinese page is left in ``test-artifacts/crawl/<role>/`` at the checkout's root (ignored by
git), for someone reading the Chinese in context."""

from __future__ import annotations

import base64
import re
import shutil
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urlsplit

import pytest
from flask import Flask
from sqlalchemy import JSON, String, Text, select

from app import create_app
from app.core.db import db
from tests import axe
from tests.system import CHROMIUM, CHROMIUM_ARGS, require, sign_in

pytestmark = pytest.mark.browser

# Pages per role and per route shape (``/cases/7`` and ``/cases/9`` are one shape): wide before deep.
MAX_PAGES = 60
PER_SHAPE = 2

# Who signs in (demo user name; None: a visitor of the public portal) and where the crawl starts.
ROLES: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "visitor": (None, ("/", "/auth/login", "/no-such-page", "/portal/auctions")),
    "bidder": ("bidder1", ("/workbench",)),
    "custodian": ("agent", ("/workbench",)),
    "tenderer": ("tenderer", ("/workbench",)),
    "staff": ("staff", ("/workbench",)),
    "manager": ("manager", ("/workbench",)),
    "regulator": ("regulator", ("/workbench",)),
    "expert": ("expert", ("/workbench",)),
    "admin": ("admin", ("/workbench",)),
}

# Never followed: leaving, switching language, files and machine formats.
SKIP = re.compile(
    r"^/(auth/logout|auth/locale|static/|api/)|/(download|export|feed|atom)\b|\.(pdf|csv|json|xml|zip|age|atom|xlsx)$"
)

SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")
COLON = re.compile(r"\b[a-z]+:[a-z_]+(?::[a-z_]+)*\b")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
WORD = re.compile(r"[A-Za-z][A-Za-z-]*[A-Za-z]|[A-Za-z]")
CJK = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]+")
HEXISH = re.compile(r"^[0-9a-fA-F]+$")

# Words a Chinese page may show: product and standard names, units, formats.
ALLOWED_WORDS = {
    *("PDF", "SHA", "TOTP", "age", "API", "OCDS", "CSV", "JSON", "Atom", "URL", "ID", "CA", "SM", "Ed"),
    *("UTC", "HTTP", "HTTPS", "IP", "IPv", "MB", "KB", "GB", "TB", "MiB", "ZIP", "XLSX", "Excel", "WPS"),
    *("RSS", "CN", "PEM", "QR", "AB", "PGP", "RFC", "Merkle", "SM2", "SM3", "Base", "hex", "x", "OFD"),
    *("PNG", "JPEG", "YYYY-MM-DD", "Python", "pip", "cryptography", "Base64"),
}

VISIBLE_TEXT = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    const text = node.nodeValue.trim();
    if (!el || !text) continue;
    if (el.closest('code, pre, kbd, samp, script, style, noscript, template, textarea, [data-raw]')) continue;
    if (el.tagName !== 'OPTION' && !el.checkVisibility()) continue;
    // A passage marked as another language (the language switch, a document quoted in its own language).
    const marked = el.closest('[lang]');
    const pageLang = document.documentElement.lang.slice(0, 2);
    if (marked && marked !== document.documentElement && marked.lang.slice(0, 2) !== pageLang) continue;
    out.push(text);
  }
  const attributed = '[placeholder], [title], [aria-label], input[type=submit], input[type=button]';
  for (const el of document.querySelectorAll(attributed)) {
    if (el.closest('code, pre, kbd, samp, [data-raw]')) continue;
    for (const attr of ['placeholder', 'title', 'aria-label']) {
      if (el.getAttribute(attr)) out.push(el.getAttribute(attr));
    }
    if (el.tagName === 'INPUT' && el.value) out.push(el.value);
  }
  out.push(document.title);
  return out;
}"""


@dataclass(frozen=True)
class Site:
    url: str
    app: Flask
    logins: dict[str, tuple[str, str]]
    data: str  # every free-text value people entered (names, titles), one string
    shots: Path


@dataclass
class Finding:
    role: str
    locale: str
    path: str
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Crawl:
    counts: dict[str, int]  # pages visited per role
    language: list[Finding]
    accessibility: list[Finding]  # axe-core, on the Chinese pages


def _json_strings(raw: object) -> list[str]:
    """The values people typed inside a JSON column (declared items, scoring criteria), never its keys."""
    import json

    try:
        doc = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return []
    out: list[str] = []
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and re.search(r"[\u3400-\u9fff]", item):
            out.append(item)
    return out


def _user_data(app: Flask) -> str:
    """The free text of the database (names, titles, reasons people typed), for telling data from labels:
    values that look like codes (``draft``, ``housing_construction``) are labels' business, never data."""
    code = re.compile(r"^[a-z0-9_:.\-]*$")
    machine = ("audit_", "outbox_", "throttle", "setting", "account_link", "account_notice")
    values: list[str] = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            if table.name.startswith(machine):
                continue
            columns = [c for c in table.columns if isinstance(c.type, (String, Text, JSON))]
            if not columns:
                continue
            for row in db.session.execute(select(*columns)):
                for v in row:
                    if isinstance(v, (dict, list)) or (isinstance(v, str) and v[:1] in "{["):
                        values.extend(_json_strings(v))
                    elif isinstance(v, str) and v and not code.match(v):
                        values.append(v)
    return "\n".join(values)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require(CHROMIUM)
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from app.demo import seed

    tmp = tmp_path_factory.mktemp("crawl")
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp),
            "BLOB_DIR": str(tmp / "blobs"),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/crawl.db",
            "REDIS_URL": None,
            "RATELIMIT_STORAGE_URI": "memory://",
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        upgrade(revision="heads")
        lines = seed()
        db.session.commit()
        db.session.remove()
    logins = {}
    for line in lines[1:]:
        username, _role, password, secret = (part.strip() for part in line.split("|"))
        logins[username] = (password, secret)
    data = _user_data(app)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="crawl-server", daemon=True)
    thread.start()
    # Kept after the run (pytest's temporary folders rotate) for a reader of the Chinese; ignored by git.
    shots = Path(__file__).resolve().parents[1] / "test-artifacts" / "crawl"
    shutil.rmtree(shots, ignore_errors=True)
    print(f"crawl screenshots: {shots}")
    try:
        yield Site(f"http://127.0.0.1:{server.server_port}", app, logins, data, shots)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


def _shape(path: str) -> str:
    return re.sub(r"\d+", "N", re.sub(r"[0-9a-f]{16,}", "H", path))


def _problems(texts: list[str], locale: str, data: str) -> list[str]:
    found: list[str] = []
    for text in texts:
        for pattern, what in ((SNAKE, "code"), (COLON, "code"), (ISO, "UTC time")):
            for match in pattern.finditer(text):
                # A URL or an e-mail address is not a code (https://…, name@host_x).
                if what == "code" and re.search(r"https?://|@", text):
                    continue
                found.append(f"{what} {match.group(0)!r} in {text[:80]!r}")
        if locale == "zh":
            for match in WORD.finditer(text):
                word = match.group(0)
                if (
                    word in ALLOWED_WORDS
                    or HEXISH.match(word)
                    or re.search(rf"(?<![A-Za-z]){re.escape(word)}(?![A-Za-z])", data)
                ):
                    continue
                if re.search(r"https?://|@|\w+\.\w+/", text):  # an address shown to be typed or clicked
                    continue
                found.append(f"English {word!r} in {text[:80]!r}")
        else:
            # A Chinese term glossed in parentheses after its English name ("Objection (异议)") is meant.
            text = re.sub(r"[(（][^()（）]*[\u3400-\u9fff][^()（）]*[)）]", " ", text)
            for match in CJK.finditer(text):
                run = match.group(0).strip("\u3000（）()，。、：；")
                if run and run not in data:
                    found.append(f"Chinese {run!r} in {text[:80]!r}")
    return sorted(set(found))


def _crawl(
    context: Any, site: Site, role: str, starts: tuple[str, ...], locale: str, paths: list[str] | None
) -> tuple[list[str], list[Finding], list[Finding]]:
    """Visit ``paths`` (the English pass repeats the Chinese one) or crawl from ``starts``; axe-core runs in
    the Chinese pass."""
    from playwright.sync_api import Error as PlaywrightError

    page = context.new_page()
    findings: list[Finding] = []
    violations: list[Finding] = []
    visited: list[str] = []
    queue = deque(paths if paths is not None else starts)
    seen = set(queue)
    shapes: dict[str, int] = {}
    shot_dir = site.shots / role
    shot_dir.mkdir(parents=True, exist_ok=True)
    while queue and len(visited) < MAX_PAGES:
        path = queue.popleft()
        try:
            response = page.goto(site.url + path)
        except PlaywrightError as exc:  # a file download, not a page
            if "Download is starting" in str(exc):
                continue
            raise
        if response is None or "text/html" not in (response.headers.get("content-type") or ""):
            continue
        here = urlsplit(page.url)
        if here.path.startswith("/auth/login") and role != "visitor":
            continue  # signed out by a page: never expected, reported below by the count
        visited.append(path)
        if locale == "zh":
            name = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "home"
            shot = shot_dir / f"{len(visited):02d}-{name[:80]}.png"
            page.screenshot(path=str(shot), full_page=True)
        # A stored document (the signed evaluation report) keeps the language it was written in and says so.
        lang = "zh" if (page.evaluate("document.documentElement.lang") or "").startswith("zh") else "en"
        problems = _problems(page.evaluate(VISIBLE_TEXT), lang, site.data)
        if problems:
            findings.append(Finding(role, locale, path, problems))
        if locale == "zh" and (broken := axe.violations(page)):
            violations.append(Finding(role, locale, path, broken))
        if paths is not None:
            continue
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            url, _frag = urldefrag(href)
            parts = urlsplit(url)
            if parts.netloc != urlsplit(site.url).netloc:
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if target in seen or SKIP.search(parts.path):
                continue
            shape = _shape(parts.path)
            if shapes.get(shape, 0) >= PER_SHAPE:
                continue
            shapes[shape] = shapes.get(shape, 0) + 1
            seen.add(target)
            queue.append(target)
    page.close()
    return visited, findings, violations


def _secret(b32: str) -> bytes | None:
    return base64.b32decode(b32 + "=" * (-len(b32) % 8)) if b32 else None


@pytest.fixture(scope="module")
def crawl(site: Site) -> Crawl:
    """One crawl of every role in Chinese then English, shared by the language and accessibility checks."""
    from playwright.sync_api import sync_playwright

    axe.require_axe()
    language: list[Finding] = []
    accessibility: list[Finding] = []
    counts: dict[str, int] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            for role, (username, starts) in ROLES.items():
                # The page's Content-Security-Policy forbids inline scripts: axe-core comes in as one.
                context = browser.new_context(
                    viewport={"width": 1280, "height": 800}, locale="zh-CN", bypass_csp=True
                )
                context.set_default_timeout(15000)
                page = context.new_page()
                if username is not None:
                    password, secret = site.logins[username]
                    sign_in(page, site.url, username, password, totp_secret=_secret(secret))
                page.close()
                visited, found, broken = _crawl(context, site, role, starts, "zh", None)
                language += found
                accessibility += broken
                counts[role] = len(visited)
                switch = context.new_page()
                switch.goto(f"{site.url}/auth/locale?locale=en&next=/")
                switch.close()
                _visited, found, _broken = _crawl(context, site, role, starts, "en", visited)
                language += found
                context.close()
        finally:
            browser.close()
    print("pages per role:", counts)
    return Crawl(counts, language, accessibility)


def _report(findings: list[Finding]) -> str:
    return "\n".join(f"[{f.role} {f.locale}] {f.path}\n    " + "\n    ".join(f.problems) for f in findings)


def test_every_page_reads_in_its_language(crawl: Crawl) -> None:
    assert all(n >= 3 for n in crawl.counts.values()), crawl.counts
    findings = crawl.language
    assert not findings, (
        f"{sum(len(f.problems) for f in findings)} problems on {len(findings)} pages:\n{_report(findings)}"
    )


def test_every_page_has_no_serious_accessibility_violation(crawl: Crawl) -> None:
    """axe-core's serious and critical rules (labels, contrast, names, landmarks, language) on every page that
    every role reaches."""
    assert all(n >= 3 for n in crawl.counts.values()), crawl.counts
    findings = crawl.accessibility
    assert not findings, f"axe-core violations on {len(findings)} pages:\n{_report(findings)}"
