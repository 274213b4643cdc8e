"""API schemas of the bidding domain. The handlers build their answers themselves (streamed uploads, signed
receipts); these schemas document those answers in the OpenAPI document, field for field, so a client
(and the fuzzing test) can check what it gets. Unknown fields are refused (marshmallow's default RAISE)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

# -- request bodies (the handlers read them with ``api._json_object``) --------------------------------------


class UploadIn(Schema):
    kind = fields.Str(required=True, metadata={"description": "summary | document"})
    name = fields.Str(metadata={"description": "the document's label (documents only)"})
    length = fields.Int(required=True, metadata={"description": "bytes the upload will hold"})


class PostponeIn(Schema):
    reason = fields.Str(required=True)


class ShareIn(Schema):
    mnemonic = fields.Str(required=True, metadata={"description": "the decrypted SLIP-39 share"})


class RecordConfirmationIn(Schema):
    accepted = fields.Bool(load_default=True)
    key_id = fields.Str(metadata={"description": "the registered bidder key that signed"})
    signature = fields.Str(metadata={"description": "base64 Ed25519 over the record statement"})


class ObjectionIn(Schema):
    body = fields.Str(required=True)


# -- answers ------------------------------------------------------------------------------------------------


class PlatformKeyOut(Schema):
    algorithm = fields.Str(required=True)
    public_key = fields.Str(required=True, metadata={"description": "base64 of the raw Ed25519 key"})


class SectionSealingOut(Schema):
    section_id = fields.Int(required=True)
    code = fields.Str(required=True)
    name = fields.Str(required=True)
    status = fields.Str(required=True)
    opening_recipient = fields.Str(required=True, allow_none=True)
    bid_deadline = fields.DateTime(required=True, allow_none=True)
    max_envelope_bytes = fields.Int(required=True)
    opening_items = fields.List(fields.Str(), required=True)
    signature_required = fields.Bool(required=True)


class EnvelopeOut(Schema):
    id = fields.Int(required=True)
    kind = fields.Str(required=True)
    name = fields.Str(required=True)
    status = fields.Str(required=True)
    sha256 = fields.Str(required=True)
    size = fields.Int(required=True)
    received_at = fields.DateTime(required=True)
    ended_at = fields.DateTime(required=True, allow_none=True)
    decrypt_status = fields.Str(required=True, allow_none=True)


class EnvelopeListOut(Schema):
    envelopes = fields.List(fields.Nested(EnvelopeOut), required=True)


class OpenedEnvelopeOut(EnvelopeOut):
    bidder = fields.Str(required=True)
    source_ip = fields.Str(required=True, allow_none=True)
    user_agent = fields.Str(required=True, allow_none=True)
    client_fingerprint = fields.Str(required=True, allow_none=True)
    signing_key_id = fields.Str(required=True, allow_none=True)


class OpenedEnvelopeListOut(Schema):
    envelopes = fields.List(fields.Nested(OpenedEnvelopeOut), required=True)


class EnvelopeCountOut(Schema):
    section_id = fields.Int(required=True)
    bidders = fields.Int(required=True)


class SignedReceiptOut(Schema):
    receipt = fields.Dict(required=True, metadata={"description": "the signed statement (canonical JSON)"})
    signature = fields.Str(required=True, metadata={"description": "base64 Ed25519 over the receipt"})
    platform_key = fields.Str(required=True)


class WithdrawnOut(Schema):
    withdrawn = fields.Int(required=True)


class UploadOut(Schema):
    id = fields.Str(required=True)
    offset = fields.Int(required=True)
    length = fields.Int(required=True)


class CeremonyOut(Schema):
    ceremony_id = fields.Int(required=True)
    status = fields.Str(required=True)
    bidders = fields.Int(metadata={"description": "not_opened: the bidders counted (fewer than 3)"})
    message = fields.Str(metadata={"description": "not_opened: why nothing was opened"})


class ShareAcceptedOut(Schema):
    ceremony_id = fields.Int(required=True)
    status = fields.Str(required=True, allow_none=True)
    quorum = fields.Bool(required=True)


class KeyShareOut(Schema):
    id = fields.Int(required=True)
    section_id = fields.Int(required=True)
    member_index = fields.Int(required=True)
    custodian_recipient = fields.Str(required=True)
    ciphertext_b64 = fields.Str(required=True)


class KeyShareListOut(Schema):
    shares = fields.List(fields.Nested(KeyShareOut), required=True)


class OpeningRecordOut(Schema):
    record = fields.Dict(required=True)
    record_sha256 = fields.Str(required=True, allow_none=True)
    valid_bids = fields.Int(required=True, allow_none=True)
    section_status = fields.Str(required=True)
    objections = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": "on-the-spot objections with the tenderer's answers (条例 Art. 44)"},
    )
    audit = fields.Dict(
        required=True,
        allow_none=True,
        metadata={"description": "the log leaf that published the record: leaf_index, proof_url"},
    )


class RecordProofArgs(Schema):
    size = fields.Int(load_default=None, validate=validate.Range(min=1))


class RecordProofOut(Schema):
    kind = fields.Str(required=True)
    index = fields.Int(required=True)
    tree_size = fields.Int(required=True)
    leaf = fields.Str(
        required=True, metadata={"description": "the leaf text whose RFC 6962 hash is leaf_hash"}
    )
    leaf_hash = fields.Str(required=True, metadata={"description": "hex"})
    payload = fields.Str(
        required=True, metadata={"description": "canonical JSON whose SHA-256 is the leaf's payload_sha256"}
    )
    root = fields.Str(required=True, metadata={"description": "hex root of the tree of tree_size"})
    proof = fields.List(fields.Str(), required=True, metadata={"description": "hex"})


class RecordConfirmationOut(Schema):
    record_sha256 = fields.Str(required=True)
    signed = fields.Bool(required=True)


class ObjectionOut(Schema):
    id = fields.Int(required=True)
