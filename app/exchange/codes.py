"""The unified transaction code (统一交易标识码) of a project and a section.

The national 《公共资源交易平台系统数据规范》 (2016) gives every transaction a unified code made of the
administrative division where it is traded, the trading category and a sequence, so that the city, provincial
and national platforms name it the same way. The official field list could not be obtained here, so this
layout is **provisional** (docs/exchange.md):
``<division, 6 digits (GB/T 2260)><category letter><year><project sequence, 4 digits>`` for the project
and ``…-<section number, 2 digits>`` for a section, e.g.
``320600A20260001-01``. It is computed from the platform's own codes (``GC2026-0001-01``), so it never
changes once a project is registered; replacing the layout later means re-mapping here only.
"""

from __future__ import annotations

import re

from flask import current_app

from app.projects.models import Section

#: Trading category letters (provisional): 工程建设 A, 政府采购 B, 土地使用权和矿业权 C, 国有产权 D, 其他 Z.
CATEGORY_LETTERS = {"GC": "A", "ZC": "B", "TD": "C", "CQ": "D", "QT": "Z"}
_CODE = re.compile(r"^([A-Z]{2})(\d{4})-(\d{4})(?:-(\d{2}))?$")


def transaction_code(section: Section) -> str:
    region = str(current_app.config.get("EXCHANGE_REGION_CODE") or "000000")
    match = _CODE.match(section.code)
    if match is None:  # a code outside the platform's scheme: keep it, prefixed by the division
        return f"{region}Z{section.code}"
    prefix, year, sequence, number = match.groups()
    return f"{region}{CATEGORY_LETTERS.get(prefix, 'Z')}{year}{sequence}-{number or '00'}"
