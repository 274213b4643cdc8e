"""API schemas for accounts; unknown fields are rejected (marshmallow's default RAISE)."""

from __future__ import annotations

from marshmallow import Schema, fields


class OrganizationOut(Schema):
    id = fields.Int()
    name = fields.Str()
    kind = fields.Str()
    industry = fields.Str(allow_none=True)


class MeOut(Schema):
    id = fields.Int()
    username = fields.Str()
    display_name = fields.Str()
    role = fields.Str()
    permissions = fields.List(fields.Str())
    organization = fields.Nested(OrganizationOut)


class HealthOut(Schema):
    status = fields.Str()
