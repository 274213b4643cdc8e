"""The expert import reads a sheet streaming, within limits on file size, rows, columns, cell length and
declared dimensions (issue 14), through the real page on a real gunicorn whose memory is capped: a 1.3 MB
sheet whose rows reach the last column, and a 1.6 KB file declaring a full-size sheet, are refused with a
clear message while the worker's peak memory stays bounded. The old reader padded every row to the declared
or reached width and ran out of memory (here: into the cap, a 500)."""

from __future__ import annotations

import html
import http.client
import io
import resource
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers

# The workers' data segment: far above what a worker needs, far below what the old reader allocated.
DATA_CAP = 1536 * 1024 * 1024

XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
PKG = "http://schemas.openxmlformats.org/package/2006"
DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
SML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
CONTENT_TYPES = (
    f'{XML}<Types xmlns="{PKG}/content-types">'
    f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{SML}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{SML}.worksheet+xml"/></Types>'
)
RELS = (
    f'{XML}<Relationships xmlns="{PKG}/relationships">'
    f'<Relationship Id="rId1" Type="{DOC}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK = (
    f'{XML}<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="{DOC}">'
    '<sheets><sheet name="experts" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    f'{XML}<Relationships xmlns="{PKG}/relationships">'
    f'<Relationship Id="rId1" Type="{DOC}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
)
COLUMNS = ["姓名", "身份证号", "职称", "职称级别", "从业年限", "工作单位", "专业"]
HEADER_ROW = (
    '<row r="1">'
    + "".join(
        f'<c r="{col}1" t="inlineStr"><is><t>{name}</t></is></c>'
        for col, name in zip("ABCDEFG", COLUMNS, strict=True)
    )
    + "</row>"
)


def xlsx(sheet_body: str, *, dimension: str | None = None) -> bytes:
    """A minimal XLSX whose first sheet holds ``sheet_body`` (rows) and, if given, a <dimension>."""
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    sheet = (
        f"{XML}"
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"{dim}<sheetData>{sheet_body}</sheetData></worksheet>"
    ).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        zf.writestr("_rels/.rels", RELS)
        zf.writestr("xl/workbook.xml", WORKBOOK)
        zf.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        zf.writestr("xl/worksheets/sheet1.xml", sheet)
    return buf.getvalue()


def wide_sheet(target_bytes: int) -> bytes:
    """Rows of an ID and a name, each with one more cell in the last column (XFD): about ``target_bytes``."""
    import random

    rnd = random.Random(14)
    rows = [HEADER_ROW]
    n = 2
    data = b""
    while True:
        for _ in range(2000):
            rows.append(
                f'<row r="{n}"><c r="A{n}"><v>{rnd.randrange(10**9)}</v></c>'
                f'<c r="B{n}"><v>{rnd.randrange(10**17)}</v></c><c r="XFD{n}"><v>{n}</v></c></row>'
            )
            n += 1
        data = xlsx("".join(rows))
        if len(data) >= target_bytes:
            return data


def _limit_data() -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (DATA_CAP, DATA_CAP))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[servers.Gunicorn, str]]:
    tmp: Path = tmp_path_factory.mktemp("import-limits")
    (tmp / "instance").mkdir()
    env = servers.app_env(tmp)
    migrated = servers.flask(env, "db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    cookie = servers.session_cookie(env, "manager", "management_office", "office")
    gunicorn = servers.Gunicorn(env, "app:create_app()", worker_class="gthread", preexec_fn=_limit_data)
    yield gunicorn, cookie
    gunicorn.stop()


def _peak_mib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM")


def _import(server: servers.Gunicorn, cookie: str, name: str, data: bytes) -> tuple[int, str]:
    status, headers, page = servers.http_request(server.port, "GET", "/experts/import", cookie=cookie)
    assert status == 200, page[:500]
    cookie = servers.cookie_after(cookie, headers)
    body, ctype = servers.multipart({"csrf_token": servers.form_token(page)}, {"file": (name, data)})
    status, headers, answer = servers.http_request(
        server.port, "POST", "/experts/import", cookie=cookie, body=body, headers={"Content-Type": ctype}
    )
    cookie = servers.cookie_after(cookie, headers)
    if status == 302:  # a refusal is flashed on the page it redirects to
        status, _h, answer = servers.http_request(
            server.port, "GET", headers["location"], cookie=cookie
        )  # fmt: skip
    return status, html.unescape(answer.decode())


def test_a_1_3_mb_sheet_reaching_the_last_column_is_refused_with_bounded_memory(
    server: tuple[servers.Gunicorn, str],
) -> None:
    gunicorn, cookie = server
    data = wide_sheet(1_300_000)
    assert 1_300_000 <= len(data) < 1_500_000
    status, page = _import(gunicorn, cookie, "experts.xlsx", data)
    assert status == 200
    assert "第 2 行超过 50 列" in page or "Row 2 has more than 50 columns" in page
    assert _peak_mib(gunicorn.worker()) < 400


def test_a_tiny_file_declaring_a_full_size_sheet_is_refused(server: tuple[servers.Gunicorn, str]) -> None:
    gunicorn, cookie = server
    row = '<row r="2"><c r="A2" t="inlineStr"><is><t>张三</t></is></c></row>'
    data = xlsx(HEADER_ROW + row, dimension="A1:XFD1048576")
    assert len(data) < 2048
    status, page = _import(gunicorn, cookie, "experts.xlsx", data)
    assert status == 200
    assert "1048576" in page and "16384" in page  # the declared size is named in the refusal
    assert _peak_mib(gunicorn.worker()) < 400


def test_a_sheet_that_unpacks_beyond_the_limit_is_refused_from_the_zip_directory(
    server: tuple[servers.Gunicorn, str],
) -> None:
    gunicorn, cookie = server
    rows = "".join(f'<row r="{n}"><c r="A{n}"><v>1</v></c></row>' for n in range(2, 900_000))
    data = xlsx(HEADER_ROW + rows)
    status, page = _import(gunicorn, cookie, "experts.xlsx", data)
    assert status == 200
    assert "MiB" in page


def test_csv_rows_cells_and_lines_are_bounded(server: tuple[servers.Gunicorn, str]) -> None:
    gunicorn, cookie = server
    header = "姓名,身份证号,职称,职称级别,从业年限,工作单位,专业\n"
    long_cell = header + "张三," + "1" * 600 + ",t,副高级,10,e,A010101\n"
    status, page = _import(gunicorn, cookie, "experts.csv", long_cell.encode())
    assert status == 200 and ("500" in page and ("字符" in page or "characters" in page))
    one_line = ("x," * 1_000_000).encode()  # 2 MB without a line break
    status, page = _import(gunicorn, cookie, "experts.csv", one_line)
    assert status == 200 and ("行" in page or "line" in page)
    many = header + "a,b,c,d,e,f,g\n" * 20_001
    status, page = _import(gunicorn, cookie, "experts.csv", many.encode())
    assert status == 200 and "20000" in page
    # Over the file limit: refused from the declared length, before the rest is sent.
    conn = http.client.HTTPConnection("127.0.0.1", gunicorn.port, timeout=60)
    conn.putrequest("POST", "/experts/import")
    conn.putheader("Cookie", cookie)
    conn.putheader("Content-Type", "multipart/form-data; boundary=x")
    conn.putheader("Content-Length", str(6 * 1024 * 1024))
    conn.endheaders()
    conn.send(b"--x\r\n" + b"a" * 65536)
    assert conn.getresponse().status == 413
    conn.close()
