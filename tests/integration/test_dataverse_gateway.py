"""DataverseSales against the Dataverse Web API simulator over real HTTP on loopback: service protection,
retries, idempotent creation, tokens, the deep-inserted note, $batch."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from azure.core.credentials import AccessToken

from shared.adapters.dataverse_sales import (
    NOTE_SUBJECT,
    DataverseRequestError,
    DataverseSales,
    DataverseThrottled,
    DataverseUnavailable,
    RetryPolicy,
)
from shared.deadline import Deadline, within
from shared.domain.sales import LeadState
from tests.contract.factories import lead_draft
from tests.dataverse_sim import DEFAULT_PROSPECT_COLUMN, DataverseSimulator, SalesClient


class FakeTime:
    """Wall clock and sleep in one: sleeping moves the clock (and the simulator's window) at once."""

    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def sim(fake_time):
    with DataverseSimulator(monotonic=fake_time.time) as simulator:
        yield simulator


def gateway(sim: DataverseSimulator, fake_time: FakeTime, token: str | None = None, **options) -> DataverseSales:
    token = token or sim.issue_token()
    options.setdefault("timeout", (1.0, 2.0))
    return DataverseSales(sim.url, lambda: token, sleep=fake_time.sleep, clock=fake_time.time,
                          jitter=lambda: 0.5, **options)


@pytest.fixture
def sales(sim, fake_time):
    built = gateway(sim, fake_time)
    yield built
    built.close()


# --- service protection ---------------------------------------------------------------------
def test_a_429_waits_exactly_retry_after_then_creates_once(sim, sales, fake_time):
    sim.faults.throttle_next(retry_after=7, method="POST")
    lead = sales.create_lead(lead_draft(1))
    assert fake_time.sleeps == [7.0]
    assert lead.statecode is LeadState.OPEN
    assert sim.lead_count() == 1
    assert [r["status"] for r in sim.requests_to("POST", "leads")] == [429, 201]


def test_the_sliding_window_is_waited_out_as_the_server_says(fake_time):
    with DataverseSimulator(max_requests=3, window_seconds=20, monotonic=fake_time.time) as sim:
        sales = gateway(sim, fake_time)
        draft = lead_draft(1)
        sales.create_lead(draft)          # t=0
        fake_time.sleep(5)                # t=5
        sales.get_lead(draft.lead_id)
        sales.get_lead(draft.lead_id)     # the window is full until t=20
        fake_time.sleeps.clear()
        assert sales.get_lead(draft.lead_id) is not None
        assert fake_time.sleeps == [15.0]  # Retry-After: the first request leaves the window at t=20
        assert [r["status"] for r in sim.requests][-2:] == [429, 200]


def test_each_operation_of_a_batch_counts_toward_the_window(fake_time):
    with DataverseSimulator(max_requests=5, window_seconds=60, monotonic=fake_time.time) as sim:
        sales = gateway(sim, fake_time, batch_size=3)
        first = sales.create_leads([lead_draft(n) for n in range(1, 4)])  # costs 3
        assert all(result.ok for result in first) and fake_time.sleeps == []
        second = sales.create_leads([lead_draft(n) for n in range(4, 7)])  # 3 more do not fit in 5
        assert all(result.ok for result in second)
        assert fake_time.sleeps == [60.0]
        assert sim.lead_count() == 6


def test_a_retry_after_longer_than_the_call_may_wait_raises_throttled(sim, fake_time):
    sales = gateway(sim, fake_time, retry=RetryPolicy(max_retry_after=30))
    sim.faults.throttle_next(retry_after=600)
    with pytest.raises(DataverseThrottled) as raised:
        sales.get_lead(lead_draft(1).lead_id)
    assert raised.value.status == 429 and fake_time.sleeps == []


# --- a caller's deadline (the webhook answers Dataverse within its budget) -------------------------
def test_under_a_deadline_a_retry_after_it_cannot_hold_is_not_slept(sim, sales, fake_time):
    """Dataverse answered a webhook's read with 429 Retry-After 69: without a deadline that is waited out (the
    queue's work may wait); under a 20 s deadline it raises at once, carrying the Retry-After."""
    sim.faults.throttle_next(retry_after=69, method="GET")
    with within(Deadline(20.0, monotonic=fake_time.time)):
        with pytest.raises(DataverseThrottled) as raised:
            sales.get_opportunity_lead(lead_draft(1).lead_id)
    assert fake_time.sleeps == [] and raised.value.retry_after == 69.0 and raised.value.status == 429
    assert len(sim.requests_to("GET")) == 1

    sim.faults.throttle_next(retry_after=69, method="GET")
    assert sales.get_opportunity_lead(lead_draft(1).lead_id) is None  # no deadline: waited, then read
    assert fake_time.sleeps == [69.0]


def test_under_a_deadline_a_retry_after_it_can_hold_is_waited(sim, sales, fake_time):
    sim.faults.throttle_next(retry_after=3, method="GET")
    with within(Deadline(20.0, monotonic=fake_time.time)):
        assert sales.get_lead(lead_draft(1).lead_id) is None
    assert fake_time.sleeps == [3.0]


def test_under_a_deadline_5xx_backoff_stops_when_the_deadline_cannot_hold_the_next_wait(sim, fake_time):
    sales = gateway(sim, fake_time, retry=RetryPolicy(max_attempts=10, backoff_base=2.0))
    sim.faults.always(status=503)
    with within(Deadline(5.0, monotonic=fake_time.time)):
        with pytest.raises(DataverseUnavailable) as raised:
            sales.get_lead(lead_draft(1).lead_id)
    # waits 1.5 (t=1.5) and 3.0 (t=4.5); the next, 6.0, would end past t=5: raised without it
    assert fake_time.sleeps == [1.5, 3.0] and raised.value.status == 503
    assert len(sim.requests_to("GET")) == 3


def test_a_spent_deadline_sends_nothing_and_requests_time_out_by_it(sim, sales, fake_time):
    with within(Deadline(0.0, monotonic=fake_time.time)):
        with pytest.raises(DataverseUnavailable):
            sales.get_lead(lead_draft(1).lead_id)
    assert sim.requests_to("GET") == []
    with within(Deadline(0.5, monotonic=fake_time.time)):
        assert sales._timeout() == (0.5, 0.5)  # (connect, read) cut from (1.0, 2.0)
    assert sales._timeout() == (1.0, 2.0)


def test_in_flight_requests_stay_under_the_concurrency_limit(fake_time):
    with DataverseSimulator(max_concurrent=4, monotonic=fake_time.time) as sim:
        sales = gateway(sim, fake_time, max_concurrency=4)
        draft = lead_draft(1)
        sales.create_lead(draft)
        sim.faults.always(delay=0.05, method="GET")  # slow reads pile up if nothing holds them back
        with ThreadPoolExecutor(max_workers=16) as pool:
            leads = list(pool.map(lambda _: sales.get_lead(draft.lead_id), range(32)))
        assert all(lead is not None for lead in leads)
        assert 429 not in {r["status"] for r in sim.requests}
        assert sim.protection.peak_in_flight["commerce-b2b-integration"] <= 4


def test_the_simulator_refuses_requests_over_its_concurrency_limit(fake_time):
    with DataverseSimulator(max_concurrent=2, monotonic=fake_time.time) as sim:
        token = sim.issue_token()
        sim.faults.always(delay=0.3, method="GET")
        raw = gateway(sim, fake_time, token=token, max_concurrency=8, retry=RetryPolicy(max_throttle_retries=0))
        with ThreadPoolExecutor(max_workers=4) as pool:
            outcomes = list(pool.map(lambda _: _outcome(lambda: raw.get_lead(lead_draft(1).lead_id)), range(4)))
        assert "throttled" in outcomes  # the limit is enforced: the gateway's semaphore is what keeps it away


def _outcome(call) -> str:
    try:
        call()
        return "ok"
    except DataverseThrottled:
        return "throttled"


# --- retries ----------------------------------------------------------------------------------
def test_5xx_is_retried_with_exponential_backoff_then_succeeds(sim, sales, fake_time):
    sim.faults.fail_next(2, status=503, method="POST")
    sales.create_lead(lead_draft(1))
    assert fake_time.sleeps == [0.375, 0.75]  # ceilings 0.5 and 1.0, equal jitter at 0.5
    assert sim.lead_count() == 1


def test_5xx_that_does_not_stop_raises_unavailable_after_bounded_attempts(sim, fake_time):
    sales = gateway(sim, fake_time, retry=RetryPolicy(max_attempts=3))
    sim.faults.always(status=500)
    with pytest.raises(DataverseUnavailable) as raised:
        sales.create_lead(lead_draft(1))
    assert raised.value.status == 500 and "Injected failure" in raised.value.body
    assert "Injected failure" not in str(raised.value)  # Dataverse's message may quote values; hosts log the text
    assert len(sim.requests_to("POST", "leads")) == 3 and len(fake_time.sleeps) == 2
    assert sim.lead_count() == 0


def test_a_timeout_after_the_lead_was_made_retries_and_finds_it(sim, fake_time):
    sales = gateway(sim, fake_time, timeout=(1.0, 0.2))
    sim.faults.slow_next(0.6, apply_first=True, method="POST")  # created, but the answer comes too late
    draft = lead_draft(1)
    lead = sales.create_lead(draft)
    assert lead.lead_id == draft.lead_id
    assert len(fake_time.sleeps) == 1
    assert sim.lead_count() == 1 and len(sim.notes(draft.lead_id)) == 1
    assert [r["status"] for r in sim.requests_to("POST", "leads")][-1] == 412  # the retry met the first create


def test_a_timeout_before_the_work_retries(sim, fake_time):
    sales = gateway(sim, fake_time, timeout=(1.0, 0.2))
    draft = lead_draft(1)
    sales.create_lead(draft)
    sim.faults.slow_next(0.5, apply_first=False, method="GET")
    assert sales.get_lead(draft.lead_id) is not None
    assert len(fake_time.sleeps) == 1


def test_a_400_raises_at_once_with_the_response_body(sim, fake_time):
    sales = gateway(sim, fake_time, prospect_number_column="cr_misspelled")
    with pytest.raises(DataverseRequestError) as raised:
        sales.create_lead(lead_draft(1))
    error = raised.value
    assert error.status == 400 and error.code == "0x80060888"
    # The body (for the operator's record) names the column; the text, which hosts log, only the status
    # and code: Dataverse's message can quote refused values such as names and emails.
    assert "cr_misspelled" in error.body and "0x80060888" in str(error) and "cr_misspelled" not in str(error)
    assert len(sim.requests_to("POST")) == 1 and fake_time.sleeps == []
    assert sim.lead_count() == 0


def test_a_refusal_in_a_batch_keeps_dataverse_message_out_of_the_error_text_as_alone(sim, sales):
    alone, batched = lead_draft(1), lead_draft(2)
    for draft in (alone, batched):
        sim.refuse_lead(draft.lead_id, message=f"A plug-in refused the lead of {draft.email}.")
    with pytest.raises(DataverseRequestError) as raised:
        sales.create_lead(alone)
    [result] = sales.create_leads([batched])
    for draft, error in ((alone, raised.value), (batched, result.error)):
        assert isinstance(error, DataverseRequestError) and error.status == 400 and error.code == "0x80040265"
        assert draft.email not in str(error)  # hosts log exception text
        assert str(error) == f"Dataverse refused to create lead {draft.lead_id}: 400 0x80040265"
        assert draft.email in error.body and error.method == "POST"


# --- idempotent creation ------------------------------------------------------------------------
def test_creating_twice_makes_one_lead_and_one_note(sim, sales):
    draft = lead_draft(1)
    first = sales.create_lead(draft)
    second = sales.create_lead(draft)
    assert first == second
    assert sim.lead_count() == 1 and len(sim.notes(draft.lead_id)) == 1
    duplicate = sim.requests_to("POST", "leads")[-1]
    assert duplicate["status"] == 412


def test_concurrent_creates_of_one_lead_make_one_lead(sim, sales):
    draft = lead_draft(1)
    with ThreadPoolExecutor(max_workers=8) as pool:
        leads = list(pool.map(lambda _: sales.create_lead(draft), range(8)))
    assert len({lead.lead_id for lead in leads}) == 1
    assert sim.lead_count() == 1 and len(sim.notes(draft.lead_id)) == 1


def test_the_lead_carries_the_note_the_prospect_number_and_the_integration_owner(sim, sales):
    draft = lead_draft(3)
    sales.create_lead(draft)
    notes = sim.notes(draft.lead_id)
    assert [(n["subject"], n["notetext"]) for n in notes] == [(NOTE_SUBJECT, draft.timeline_note)]
    lead = sim.lead(draft.lead_id)
    assert lead[DEFAULT_PROSPECT_COLUMN] == draft.prospect_number
    assert lead["_ownerid_value"] == sim.user_id()  # the token's user: the integration's application user
    assert (lead["firstname"], lead["lastname"], lead["companyname"], lead["emailaddress1"]) == (
        draft.first_name, draft.last_name, draft.company_name, draft.email)
    assert (lead["address1_line1"], lead["address1_city"], lead["address1_postalcode"], lead["address1_country"]) == (
        draft.street, draft.city, draft.zip_code, draft.country)


def test_values_longer_than_the_columns_are_shortened_and_kept_whole_in_the_note(sim, sales):
    company = "Aktiebolaget " + "Långt Namn " * 15
    email = "x" * 95 + "@example.com"
    draft = lead_draft(1).model_copy(update={"company_name": company, "email": email, "first_name": "F" * 80})
    sales.create_lead(draft)
    lead = sim.lead(draft.lead_id)
    assert lead["companyname"] == company[:100] and lead["firstname"] == "F" * 50
    assert lead["emailaddress1"] is None  # a cut address would be a wrong one
    note = sim.notes(draft.lead_id)[0]["notetext"]
    assert company in note and email in note and "F" * 80 in note


# --- reading ------------------------------------------------------------------------------------
def test_get_qualification_reads_what_qualifylead_created(sim, sales):
    draft = lead_draft(1)
    sales.create_lead(draft)
    salesperson = SalesClient(sim.api_url, sim.issue_token("a salesperson"))
    created = salesperson.qualify(draft.lead_id)
    qualification = sales.get_qualification(draft.lead_id)
    assert qualification.opportunity_id == created["opportunity"]
    assert qualification.account.account_id == created["account"]
    assert qualification.contact.contact_id == created["contact"]
    assert qualification.account.city == draft.city and qualification.contact.phone == draft.phone
    salesperson.win(created["opportunity"])
    assert sim.store.get("opportunities", created["opportunity"])["statecode"] == 1
    assert sales.get_lead(draft.lead_id).statecode is LeadState.QUALIFIED


def test_a_disqualified_lead_reads_as_disqualified(sim, sales):
    draft = lead_draft(1)
    sales.create_lead(draft)
    SalesClient(sim.api_url, sim.issue_token("a salesperson")).disqualify(draft.lead_id, statuscode=6)
    lead = sales.get_lead(draft.lead_id)
    assert (lead.statecode, lead.statuscode) == (LeadState.DISQUALIFIED, 6)
    assert sales.get_qualification(draft.lead_id) is None


def test_ids_that_are_not_guids_are_refused_before_any_request(sim, sales):
    with pytest.raises(ValueError):
        sales.get_lead("PRO-000001")
    assert sim.requests == []


def test_a_draft_whose_id_is_no_guid_fails_alone_in_create_leads(sim, sales):
    bad = lead_draft(2, lead_id="PRO-000002")
    results = sales.create_leads([lead_draft(1), bad, lead_draft(3)])
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].lead_id == "PRO-000002" and results[1].error.permanent and results[1].error.status == 400
    assert sim.lead_count() == 2 and len(sim.requests_to("POST", "$batch")) == 1


# --- tokens ---------------------------------------------------------------------------------------
class FakeCredential:
    """An azure-identity credential: get_token(scope) -> AccessToken; each call issues a new token."""

    def __init__(self, sim: DataverseSimulator, fake_time: FakeTime, lifetime: float = 3600):
        self.sim, self.fake_time, self.lifetime = sim, fake_time, lifetime
        self.scopes: list[tuple[str, ...]] = []
        self.issued: list[str] = []

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        self.scopes.append(scopes)
        self.issued.append(self.sim.issue_token())
        return AccessToken(self.issued[-1], int(self.fake_time.time() + self.lifetime))


def test_the_token_is_cached_until_shortly_before_it_expires(sim, fake_time):
    credential = FakeCredential(sim, fake_time)
    sales = DataverseSales(sim.url, credential, sleep=fake_time.sleep, clock=fake_time.time)
    draft = lead_draft(1)
    sales.create_lead(draft)
    sales.get_lead(draft.lead_id)
    sales.get_lead(draft.lead_id)
    assert credential.scopes == [(f"{sim.url}/.default",)]
    fake_time.now += 3600 - 301  # still more than the 300 s margin left
    sales.get_lead(draft.lead_id)
    assert len(credential.issued) == 1
    fake_time.now += 2  # now inside the margin: refresh before it expires
    sales.get_lead(draft.lead_id)
    assert len(credential.issued) == 2
    assert {r["user"] for r in sim.requests} == {"commerce-b2b-integration"}


def test_a_401_refreshes_the_token_once_and_retries(sim, fake_time):
    credential = FakeCredential(sim, fake_time)
    sales = DataverseSales(sim.url, credential, sleep=fake_time.sleep, clock=fake_time.time)
    draft = lead_draft(1)
    sales.create_lead(draft)
    sim.revoke_token(credential.issued[-1])  # revoked before its expiry
    assert sales.get_lead(draft.lead_id) is not None
    assert len(credential.issued) == 2
    assert [r["status"] for r in sim.requests][-2:] == [401, 200]


def test_a_token_the_server_never_accepts_raises_with_the_body(sim, fake_time):
    sales = DataverseSales(sim.url, lambda: "not-a-token", sleep=fake_time.sleep, clock=fake_time.time)
    with pytest.raises(DataverseRequestError) as raised:
        sales.get_lead(lead_draft(1).lead_id)
    assert raised.value.status == 401 and "not a member" in raised.value.body
    assert len(sim.requests) == 2  # the first try and the one after a refresh


# --- $batch ---------------------------------------------------------------------------------------
def test_create_leads_in_batches_one_changeset_per_lead(sim, fake_time):
    sales = gateway(sim, fake_time, batch_size=4)
    drafts = [lead_draft(n) for n in range(1, 7)]
    sales.create_lead(drafts[1])  # exists already: the batch meets a 412 and reads it
    bad = lead_draft(7).model_copy(update={"prospect_number": "P" * 101})  # over the column's length: a 400
    results = sales.create_leads([*drafts[:3], bad, *drafts[3:]])
    assert [result.ok for result in results] == [True, True, True, False, True, True, True]
    assert [result.lead_id for result in results] == [d.lead_id for d in [*drafts[:3], bad, *drafts[3:]]]
    failed = results[3].error
    assert isinstance(failed, DataverseRequestError) and failed.status == 400 and "0x80044331" in failed.body
    assert sim.lead_count() == 6 and sim.lead(bad.lead_id) is None
    assert all(len(sim.notes(d.lead_id)) == 1 for d in drafts)
    assert len(sim.requests_to("POST", "$batch")) == 2  # 7 leads in batches of 4
    assert results[0].snapshot == sales.get_lead(drafts[0].lead_id)


def test_a_throttled_batch_is_waited_out_and_sent_again(sim, fake_time):
    sales = gateway(sim, fake_time)
    sim.faults.throttle_next(retry_after=3, path_contains="$batch")
    results = sales.create_leads([lead_draft(1), lead_draft(2)])
    assert all(result.ok for result in results) and fake_time.sleeps == [3.0]
    assert sim.lead_count() == 2
