"""Entities, value objects, the prospect state machine and message contracts. No I/O here."""
