"""Deterministic identities: a repeated message finds the effect it caused instead of making another."""
from __future__ import annotations

import hashlib
import uuid

# Fixed namespaces; changing one would orphan every id derived from it.
_NAMESPACE = uuid.UUID("6f1d2c1e-4b8a-5e0f-9c3d-b2b0a1ce0001")


def derived_id(kind: str, *parts: str) -> str:
    """A stable uuid5 for ``kind`` over ``parts`` (the same inputs always give the same id)."""
    # The unit separator cannot occur in the parts, so ("a/b",) and ("a", "b") stay different ids.
    return str(uuid.uuid5(_NAMESPACE, kind + "\x1f" + "\x1f".join(parts)))


def prospect_id_for(signup_id: str) -> str:
    return derived_id("prospect", signup_id)


def lead_id_for(prospect_id: str) -> str:
    return derived_id("lead", prospect_id)


def customer_id_for(prospect_id: str, role: str) -> str:
    return derived_id("customer", prospect_id, role)


def email_id_for(prospect_id: str, template: str) -> str:
    return derived_id("email", prospect_id, template)


def outcome_event_id(kind: str, primary_id: str) -> str:
    """The id of a Sales outcome: the webhook and the reconciliation derive the same one."""
    return derived_id("sales-outcome", kind, primary_id.lower())


def new_public_id() -> str:
    """An unguessable id for things whose URL is public (the signup status page)."""
    return str(uuid.uuid4())


def hash_key(value: str) -> str:
    """Idempotency keys are stored hashed: they come from the public internet."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()
