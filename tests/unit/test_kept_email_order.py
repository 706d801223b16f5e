"""An outbox listing is oldest first by the emails' dates read as times, not as text (a weekday name first)."""
from __future__ import annotations

from shared.adapters.outbox_email import kept_email_summary, oldest_first


def test_oldest_first_reads_the_date_as_a_time():
    thursday = kept_email_summary("b", "a@example.com", "later", "Thu, 03 Dec 2026 10:00:00 +0000", "")
    wednesday = kept_email_summary("a", "a@example.com", "earlier", "Wed, 02 Dec 2026 10:00:00 +0000", "")
    ahead = kept_email_summary("c", "a@example.com", "same moment", "Wed, 02 Dec 2026 11:30:00 +0130", "")
    undated = kept_email_summary("d", "a@example.com", "no date", "", "")
    assert [s["id"] for s in oldest_first([thursday, wednesday, ahead, undated])] == ["d", "a", "c", "b"]
