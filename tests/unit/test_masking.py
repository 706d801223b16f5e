"""Poison message bodies as an operator reads them: personal data masked by field name and by value shape."""
from __future__ import annotations

import json

from shared.domain.masking import MASK, body_about, fingerprint, is_personal_field, pretty_body
from tests.contract.factories import lead_draft


def test_the_fields_of_a_lead_draft_that_hold_personal_data_are_masked_and_its_ids_kept():
    draft = lead_draft(1)
    body = json.dumps({"schema": "create-lead", "version": 1, "draft": draft.model_dump(mode="json")})
    shown = json.loads(pretty_body(body, masked=True))
    masked = shown["draft"]
    for name in ("first_name", "last_name", "company_name", "email", "phone", "street", "city", "zip_code",
                 "subject", "timeline_note", "description"):
        assert masked[name] in (MASK, None), name
    assert masked["lead_id"] == draft.lead_id and masked["prospect_number"] == draft.prospect_number
    assert masked["country"] == draft.country and shown["schema"] == "create-lead"
    text = pretty_body(body, masked=True)
    for secret in (draft.first_name, draft.last_name, draft.email, draft.phone, draft.street, draft.company_name):
        assert secret not in text


def test_dataverse_field_names_are_recognised_too():
    for name in ("firstname", "lastname", "fullname", "emailaddress1", "telephone1", "mobilephone",
                 "address1_line1", "address1_city", "address1_postalcode", "companyname", "Contact", "name"):
        assert is_personal_field(name), name
    for name in ("leadid", "contact_id", "email_id", "schema", "kind", "statecode", "occurred_at", "country",
                 "version", "source", "prospect_number"):
        assert not is_personal_field(name), name


def test_values_shaped_like_an_email_or_a_phone_are_masked_in_any_field_and_in_text():
    body = json.dumps({"schema": "sales-outcome", "reason": "customer asa@example.com called +46 70 123 45 67",
                       "items": [{"free": "bo@example.se"}], "count": 3, "ok": True})
    shown = json.loads(pretty_body(body, masked=True))
    assert shown["reason"] == "customer [email] called [phone]"
    assert shown["items"] == [{"free": "[email]"}] and shown["count"] == 3 and shown["ok"] is True
    assert pretty_body("not json: asa@example.com", masked=True) == "not json: [email]"


def test_unmasked_is_the_body_pretty_printed_and_a_body_that_is_not_json_as_it_is():
    body = '{"schema":"create-lead","contact":{"email":"asa@example.com"}}'
    assert json.loads(pretty_body(body, masked=False)) == json.loads(body)
    assert pretty_body(body, masked=False).startswith('{\n  "schema"')
    assert pretty_body("{broken", masked=False) == "{broken"


def test_what_a_message_was_about_names_its_schema_kind_and_ids_without_personal_data():
    body = json.dumps({"schema": "sales-outcome", "version": 1, "kind": "opportunity_won", "event_id": "e-1",
                       "lead_id": "l-1", "qualification": {"contact": {"email": "asa@example.com"}}})
    assert body_about(body) == "sales-outcome v1 opportunity_won event_id=e-1 lead_id=l-1"
    assert body_about("garbage") == "not JSON (7 bytes)"
    assert body_about("[1]") == "JSON list, not an object"


def test_a_fingerprint_tells_bodies_apart_without_showing_them():
    assert fingerprint("a") == fingerprint("a") != fingerprint("b")
    assert fingerprint("asa@example.com").startswith("sha256:") and "asa" not in fingerprint("asa@example.com")
