"""The intake defenses' pure parts (shared/domain/intake_defenses.py): the client's address from a trusted
header, the form's stamp, decoy ids, and fixed windows."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from shared.domain import intake_defenses as d

KEY = b"k" * 32
NOW = datetime(2026, 12, 3, 12, 0, 20, 123456, tzinfo=timezone.utc)


@pytest.mark.parametrize("value, hops, client", [
    ("203.0.113.7:50123", 1, "203.0.113.7"),  # Azure's front end: the address with its port
    ("203.0.113.7", 1, "203.0.113.7"),
    ("10.0.0.1, 203.0.113.7:443", 1, "203.0.113.7"),  # what the client wrote stays left of ours
    ("198.51.100.1, 203.0.113.7, 10.1.1.1:80", 2, "203.0.113.7"),  # one more proxy of ours
    ("[2001:db8:1:2:3:4:5:6]:443", 1, "2001:db8:1:2::/64"),  # an IPv6 client is its /64
    ("2001:db8:1:2::9", 1, "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.7", 1, "203.0.113.7"),
    ("203.0.113.7", 3, "203.0.113.7"),  # fewer entries than hops: the leftmost
    ("not an address", 1, None),
    ("", 1, None),
])
def test_the_client_is_read_from_the_trusted_end_of_the_header(value, hops, client):
    assert d.client_address({"X-Forwarded-For": value}, "x-forwarded-for", hops) == client


def test_front_doors_header_is_one_address():
    assert d.client_address({"X-Azure-ClientIP": "198.51.100.20"}, "X-Azure-ClientIP", 1) == "198.51.100.20"
    assert d.client_address({}, "X-Forwarded-For", 1) is None


@pytest.mark.parametrize("stamp, problem", [
    (None, d.STAMP_MISSING), ("", d.STAMP_MISSING), ("abc.def", d.STAMP_FORGED), ("123", d.STAMP_FORGED),
    ("1796299220000.ÅÄÖ", d.STAMP_FORGED),  # not ASCII: refused, not an error
])
def test_a_stamp_that_is_not_ours_is_named_so(stamp, problem):
    assert d.stamp_problem(KEY, stamp, NOW, timedelta(seconds=3)) == problem


def test_a_stamp_is_good_from_the_minimum_fill_time_to_a_day():
    fill = timedelta(seconds=3)
    assert d.stamp_problem(KEY, d.issue_stamp(KEY, NOW - timedelta(seconds=2)), NOW, fill) == d.TOO_FAST
    assert d.stamp_problem(KEY, d.issue_stamp(KEY, NOW + timedelta(seconds=5)), NOW, fill) == d.TOO_FAST
    assert d.stamp_problem(KEY, d.issue_stamp(KEY, NOW - timedelta(seconds=3)), NOW, fill) is None
    assert d.stamp_problem(KEY, d.issue_stamp(KEY, NOW - timedelta(hours=23, minutes=59)), NOW, fill) is None
    assert d.stamp_problem(KEY, d.issue_stamp(KEY, NOW - timedelta(hours=24, seconds=1)), NOW, fill) == d.STAMP_EXPIRED
    assert d.stamp_problem(b"another key", d.issue_stamp(KEY, NOW - timedelta(minutes=1)), NOW, fill) == d.STAMP_FORGED


def test_a_decoy_id_is_a_version_4_uuid_that_carries_its_moment_and_no_real_id_passes_for_one():
    decoys = [d.decoy_id(KEY, NOW) for _ in range(200)]
    assert len(set(decoys)) == 200  # many at the same moment still differ, as real ids do
    for decoy in decoys:
        parsed = uuid.UUID(decoy)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        received = d.decoy_received_at(KEY, decoy)
        assert received is not None and abs(received - NOW) < timedelta(milliseconds=10)
        assert d.decoy_received_at(b"another key", decoy) is None
    # Nothing ties decoys together: their first bytes (the moment, encrypted) differ as random ones do.
    assert len({decoy[:8] for decoy in decoys}) > 190
    assert not [real for real in (str(uuid.uuid4()) for _ in range(20_000)) if d.decoy_received_at(KEY, real)]
    assert d.decoy_received_at(KEY, "not-a-uuid") is None


def test_fixed_windows_and_when_to_retry():
    minute = d.fixed_window(NOW, timedelta(minutes=1))
    assert (minute.start, minute.end) == (NOW.replace(second=0, microsecond=0), NOW.replace(minute=1, second=0,
                                                                                             microsecond=0))
    assert minute.retry_after(NOW) == 40  # 39.88 s, rounded up
    assert minute.retry_after(minute.end) == 1
    hour = d.fixed_window(NOW, timedelta(hours=1))
    assert hour.start == NOW.replace(minute=0, second=0, microsecond=0)


def test_the_email_domain_is_read_from_any_body():
    assert d.email_domain({"contact": {"email": "Astrid@Fabrikam.EXAMPLE."}}) == "fabrikam.example"
    assert d.email_domain({"contact": {"email": 5}}) is None
    assert d.email_domain(["not", "an", "object"]) is None
    assert d.email_domain({"contact": "x"}) is None
