"""The lead's timeline note in Dataverse (the simulator) says that its prospect is a possible duplicate (issue 11):
the salesperson sees it where they work, on the lead."""
from __future__ import annotations

import pytest

from tests.services.flow import signup_body, work

pytestmark = pytest.mark.e2e


def test_the_lead_of_a_possible_duplicate_says_so_in_its_timeline_note(sim, app):
    c = app
    first = signup_body(1)
    first["company"].update(name="Fabrikam AB", registration_number="556677-8899")
    second = signup_body(2)
    second["company"].update(name="Fabrikam Sverige", registration_number="556677 8899")
    c.intake.submit(first)
    c.intake.submit(second)
    c.channel_sync.run()
    work(c)
    notes = {p.number: sim.notes(p.lead_id)[0]["notetext"] for p in c.operator.prospects()}
    assert "duplicate" not in notes["PRO-000001"].lower()
    assert "Possible duplicate of PRO-000001" in notes["PRO-000002"]
    assert "from prospect PRO-000002" in notes["PRO-000002"]
