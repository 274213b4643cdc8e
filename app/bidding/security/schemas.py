"""API schemas of the bid security ledger. Amounts are integer fen; ``*_label`` fields carry the words.
Unknown fields are refused (marshmallow's default RAISE)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class BankCallbackIn(Schema):
    bank_ref = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    account_no = fields.Str(required=True, validate=validate.Length(min=1, max=32))
    direction = fields.Str(load_default="credit")
    amount_fen = fields.Int(required=True, validate=validate.Range(min=1))
    booked_at = fields.DateTime(required=True)
    payer_account = fields.Str(allow_none=True)
    payer_name = fields.Str(allow_none=True)


class BankCallbackOut(Schema):
    bank_ref = fields.Str(required=True)
    status = fields.Str(required=True, metadata={"description": "booked, or duplicate (nothing changed)"})


class GuaranteeIn(Schema):
    data = fields.Dict(required=True, metadata={"description": "the issuer's guarantee data"})
    signature = fields.Str(required=True, metadata={"description": "base64 Ed25519 over the canonical data"})


class SecurityOut(Schema):
    id = fields.Int(required=True)
    section_id = fields.Int(required=True)
    account_no = fields.Str(required=True, allow_none=True)
    form = fields.Str(required=True)
    status = fields.Str(required=True)
    status_label = fields.Str(required=True)
    required_fen = fields.Int(required=True)
    received_fen = fields.Int(required=True)
    held_fen = fields.Int(required=True)
    interest_fen = fields.Int(required=True)
    refund_due_at = fields.DateTime(allow_none=True)
    refunded_at = fields.DateTime(allow_none=True)
    guarantee_issuer = fields.Str(allow_none=True)
    guarantee_number = fields.Str(allow_none=True)
    bidder = fields.Str(allow_none=True, metadata={"description": "null while the section is unopened"})


class SectionLedgerOut(Schema):
    section_id = fields.Int(required=True)
    required_fen = fields.Int(required=True)
    issued = fields.Int(required=True)
    secured = fields.Int(required=True)
    guarantees = fields.Int(required=True)
    held_fen = fields.Int(required=True)
    refund_due = fields.Int(required=True)
    overdue = fields.Int(required=True)
    opened = fields.Bool(required=True)
    securities = fields.List(
        fields.Nested(SecurityOut), required=True, metadata={"description": "after opening"}
    )


class DayArgs(Schema):
    day = fields.Date(required=True)


class LedgerRowOut(Schema):
    bank_ref = fields.Str(required=True)
    booked_at = fields.DateTime(required=True)
    direction = fields.Str(required=True)
    kind = fields.Str(required=True)
    kind_label = fields.Str(required=True)
    amount_fen = fields.Int(required=True)
    section_code = fields.Str(required=True)
    bidder = fields.Str(allow_none=True)
    account_no = fields.Str(allow_none=True)


class DailyLedgerOut(Schema):
    day = fields.Date(required=True)
    opening_fen = fields.Int(required=True)
    credits_fen = fields.Int(required=True)
    debits_fen = fields.Int(required=True)
    closing_fen = fields.Int(required=True)
    balanced = fields.Bool(required=True)
    rows = fields.List(fields.Nested(LedgerRowOut), required=True)


class ReconciliationOut(Schema):
    id = fields.Int(required=True)
    day = fields.Date(required=True)
    statement_lines = fields.Int(required=True)
    matched = fields.Int(required=True)
    booked_from_statement = fields.Int(required=True)
    balanced = fields.Bool(required=True)
    differences = fields.List(fields.Dict(), required=True)


class ForfeitIn(Schema):
    ground = fields.Str(required=True)
    note = fields.Str(required=True, validate=validate.Length(min=1, max=2000))
