"""The intake's defenses through the functions (shared/services/intake_guard.py), on SQLite and on the Azure
backend (Tables and Queues on Azurite): a bot's form post is answered like an accepted one and not kept, its
decoy's pages read as a received request; a flood makes no signup, prospect or lead; rate limits hold exactly
under concurrency and answer 429 with Retry-After; the CAPTCHA guards the form and the JSON API."""
from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode, urlsplit

import azure.functions as func
import pytest

from functions._runtime import container
from functions.signups import signup_intake, signup_status
from functions.storefront import storefront_form, storefront_received, storefront_submit
from shared.domain.intake_defenses import issue_stamp
from shared.domain.model import ProspectStatus
from tests.captcha_stand_in import SECRET, SITE_KEY, SiteverifyStandIn
from tests.functions.conftest import container_with
from tests.log_checks import debug_logging_that_reports_errors
from tests.services.flow import signup_body, work
from tests.threads import run_in_threads

SIGNING_SECRET = "intake signing secret of the tests"
NOW = datetime(2026, 12, 3, 12, 0, 20, tzinfo=timezone.utc)  # 20 s into a minute: a burst stays in it
FORM = {
    "company.name": "Honest Filler AB", "company.phone": "+46 8 123 456", "company.address.street": "Gatan 1",
    "company.address.city": "Lund", "company.address.zip_code": "222 22", "company.address.country": "se",
    "contact.first_name": "Ada", "contact.last_name": "Berg", "contact.email": "ada@honest.example",
    "contact.phone": "+46 70 111 22 33", "channel_id": "b2b-web", "form_key": "one-filling-in",
}
PERSONAL = ("Honest Filler", "Ada", "Berg", "ada@honest.example", "honest.example", "+46 70", "203.0.113")


class FrozenClock:
    def __init__(self, now: datetime):
        self.at = now

    def now(self) -> datetime:
        return self.at


@pytest.fixture(params=["sqlite", "azure"])
def backend(request) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    suffix = uuid.uuid4().hex[:10]
    return {"STATE_BACKEND": "azure", "AzureWebJobsStorage": request.getfixturevalue("azurite").connection_string,
            "STATE_TABLE": f"state{suffix}", "LEAD_QUEUE": f"leads-{suffix}", "OUTCOME_QUEUE": f"outcomes-{suffix}",
            "EMAIL_QUEUE": f"emails-{suffix}"}


def defended(tmp_path, monkeypatch, backend: dict, **settings: str):
    """The functions' container with the defenses on (the test's settings over the defaults) and a frozen clock."""
    defaults = {"INTAKE_SIGNING_SECRET": SIGNING_SECRET, "INTAKE_MIN_FILL_SECONDS": "3",
                "INTAKE_RATE_LIMIT_PER_MINUTE": "30", "INTAKE_DOMAIN_RATE_LIMIT_PER_HOUR": "30"}
    generator = container_with(tmp_path, monkeypatch, **{**backend, **defaults, **settings})
    c = next(generator)
    c.clock = FrozenClock(NOW)  # before any service is built: they all read this one
    return c, generator


@pytest.fixture
def app(tmp_path, monkeypatch, backend):
    c, generator = defended(tmp_path, monkeypatch, backend)
    yield c
    next(generator, None)


@pytest.fixture
def sqlite_app(tmp_path, monkeypatch):
    c, generator = defended(tmp_path, monkeypatch, {})
    yield c
    next(generator, None)


def stamp(age: timedelta, secret: str = SIGNING_SECRET) -> str:
    return issue_stamp(secret.encode(), NOW - age)


def submit_form(fields: dict, **headers: str) -> func.HttpResponse:
    return storefront_submit(func.HttpRequest(
        "POST", "http://localhost:7071/api/signup", body=urlencode(fields).encode(),
        headers={"content-type": "application/x-www-form-urlencoded", **headers}))


def post_api(body: dict, **headers: str) -> func.HttpResponse:
    return signup_intake(func.HttpRequest("POST", "http://localhost:7071/api/signups", body=json.dumps(body).encode(),
                                          headers={"content-type": "application/json", **headers}))


def get(function, location: str, route_params: dict, **headers: str) -> func.HttpResponse:
    parts = urlsplit(location)
    return function(func.HttpRequest("GET", f"http://localhost:7071{parts.path}", body=b"", headers=headers,
                                     params=dict(parse_qsl(parts.query)), route_params=route_params))


def kept(c) -> tuple[int, int, int]:
    """Signups waiting, prospects, and open leads in Sales, after the channel sync and the queues ran."""
    c.channel_sync.run()
    work(c)
    with c.store.unit_of_work(read_only=True) as uow:
        signups = len(uow.pending_signups(5000))
        prospects = sum(n for status, n in uow.prospect_counts().items()
                        if status in {s.value for s in ProspectStatus})
    return signups, prospects, len(c.sales.b2b_leads())


# --- the form's honeypot and stamp ----------------------------------------------------------------------------

def test_a_person_who_takes_their_time_is_accepted_even_after_hours(app):
    for n, age in enumerate((timedelta(seconds=4), timedelta(hours=1), timedelta(hours=23))):
        response = submit_form({**FORM, "form_key": f"person-{n}", "contact.email": f"p{n}@honest.example",
                                "form_stamp": stamp(age), "website": ""})
        assert response.status_code == 303
    assert kept(app) == (0, 3, 3)


@pytest.mark.parametrize("bot", [
    {"website": "http://spam.example", "form_stamp": stamp(timedelta(minutes=5))},  # the honeypot filled
    {"form_stamp": stamp(timedelta(seconds=1))},  # sooner than a person fills the form
    {},  # no stamp
    {"form_stamp": stamp(timedelta(minutes=5), secret="another key")},  # forged
    {"form_stamp": "99999999999999.AAAA"},  # made up
    {"form_stamp": stamp(timedelta(hours=25))},  # replayed from yesterday
], ids=["honeypot", "too-fast", "no-stamp", "forged", "made-up", "expired"])
def test_a_bots_post_is_answered_as_accepted_and_not_kept(app, bot):
    real = submit_form({**FORM, "form_key": "real", "form_stamp": stamp(timedelta(minutes=2))})
    fake = submit_form({**FORM, "form_key": "bot", **bot})
    assert fake.status_code == real.status_code == 303
    assert set(fake.headers.keys()) == set(real.headers.keys())
    real_id, fake_id = (urlsplit(r.headers["Location"]).path.rsplit("/", 1)[1] for r in (real, fake))
    assert urlsplit(fake.headers["Location"]).query == urlsplit(real.headers["Location"]).query
    assert uuid.UUID(fake_id).version == uuid.UUID(real_id).version == 4
    # Its pages read as a received request's do: the confirmation, the status page and its JSON.
    pages, answers = {}, {}
    for signup_id in (real_id, fake_id):
        confirmation = get(storefront_received, f"/api/signup/received/{signup_id}?lang=en", {"id": signup_id})
        status_page = get(signup_status, f"/api/signups/{signup_id}?lang=en", {"id": signup_id}, accept="text/html")
        status_json = get(signup_status, f"/api/signups/{signup_id}", {"id": signup_id})
        pages[signup_id] = [(r.status_code, r.get_body().decode().replace(signup_id, "ID"))
                            for r in (confirmation, status_page)]
        answers[signup_id] = json.loads(status_json.get_body())
    assert pages[fake_id] == pages[real_id] and [status for status, _ in pages[fake_id]] == [200, 200]
    real_answer, fake_answer = answers[real_id], answers[fake_id]
    assert fake_answer["status"] == real_answer["status"] == "received"
    assert [step["status"] for step in fake_answer["steps"]] == ["received"]
    received = datetime.fromisoformat(fake_answer["updated_at"])
    assert abs(received - NOW) < timedelta(seconds=1) and received.microsecond % 10_000  # not a round number
    assert kept(app) == (0, 1, 1)  # the real one only (the sync made its prospect: decoys are never pending)


def test_an_id_that_is_neither_real_nor_a_decoy_is_not_found(app):
    other = str(uuid.uuid4())
    assert get(storefront_received, f"/api/signup/received/{other}", {"id": other}).status_code == 404
    assert get(signup_status, f"/api/signups/{other}", {"id": other}).status_code == 404


def test_the_form_carries_the_honeypot_and_a_fresh_stamp(app):
    page = get(storefront_form, "/api/signup?lang=en", {}).get_body().decode()
    assert 'name="website"' in page and 'tabindex="-1"' in page and 'autocomplete="off"' in page
    assert 'aria-hidden="true"' in page
    issued = page.split('name="form_stamp" value="')[1].split('"')[0]
    assert issued == stamp(timedelta(0))


def test_the_bot_line_says_why_and_where_and_nothing_personal(sqlite_app, caplog):
    with debug_logging_that_reports_errors() as failures, caplog.at_level(logging.DEBUG):
        submit_form({**FORM, "website": "http://spam.example", "form_stamp": stamp(timedelta(minutes=5))},
                    **{"X-Forwarded-For": "203.0.113.9:5000"})
    assert not failures
    lines = [r for r in caplog.records if r.getMessage().startswith("intake_rejected_bot")]
    assert len(lines) == 1 and lines[0].reason == "honeypot_filled" and lines[0].channel == "b2b-web"
    for record in caplog.records:
        text = record.getMessage() + json.dumps({k: str(v) for k, v in vars(record).items()})
        assert not [value for value in PERSONAL if value in text], text


# --- floods ---------------------------------------------------------------------------------------------------

def test_a_flood_of_bots_makes_no_signup_prospect_or_lead(tmp_path, monkeypatch, backend):
    with SiteverifyStandIn("turnstile") as provider:
        c, generator = defended(tmp_path, monkeypatch, backend, CAPTCHA_PROVIDER="turnstile",
                                CAPTCHA_SITE_KEY=SITE_KEY, CAPTCHA_SECRET=SECRET, CAPTCHA_VERIFY_URL=provider.verify_url,
                                INTAKE_RATE_LIMIT_PER_MINUTE="0", INTAKE_DOMAIN_RATE_LIMIT_PER_HOUR="0")
        try:
            answers = []
            for n in range(500):  # the form, honeypot filled
                answers.append(submit_form({**FORM, "form_key": f"bot-{n}", "website": "x",
                                            "form_stamp": stamp(timedelta(minutes=1))}).status_code)
            for n in range(500):  # the JSON API, without a CAPTCHA token or with one the provider did not issue
                token = {"X-Captcha-Token": f"made-up-{n}"} if n % 2 else {}
                answers.append(post_api(signup_body(n), **token).status_code)
            assert answers.count(303) == 500 and answers.count(422) == 500
            assert kept(c) == (0, 0, 0)
            # The same app takes a person's request (the counts above could not have missed one).
            assert post_api(signup_body(9999), **{"X-Captcha-Token": "pass-person"}).status_code == 202
            assert kept(c) == (0, 1, 1)
        finally:
            next(generator, None)


def test_sixteen_threads_from_one_address_get_exactly_the_limit(tmp_path, monkeypatch, backend):
    c, generator = defended(tmp_path, monkeypatch, backend, INTAKE_RATE_LIMIT_PER_MINUTE="5")
    try:
        calls = [lambda n=n: post_api(signup_body(n), **{"X-Forwarded-For": "198.51.100.4:4000"})
                 for n in range(16)]
        answers = run_in_threads(calls)
        accepted = [r for r in answers if r.status_code == 202]
        limited = [r for r in answers if r.status_code == 429]
        assert len(accepted) == 5 and len(limited) == 11
        assert {r.headers["Retry-After"] for r in limited} == {"40"}  # the minute ends 40 s after NOW
        assert {json.loads(r.get_body())["code"] for r in limited} == {"rate_limited"}
        assert {r.mimetype for r in limited} == {"application/problem+json"}
        # Another client is counted on its own; a forged entry left of ours does not make another client.
        assert post_api(signup_body(100), **{"X-Forwarded-For": "198.51.100.5:4000"}).status_code == 202
        assert post_api(signup_body(101), **{"X-Forwarded-For": "10.9.9.9, 198.51.100.4:4001"}).status_code == 429
        # The next minute is a new window.
        c.clock.at = NOW + timedelta(minutes=1)
        assert post_api(signup_body(102), **{"X-Forwarded-For": "198.51.100.4:4000"}).status_code == 202
    finally:
        next(generator, None)


def test_one_email_domain_is_limited_per_hour_across_addresses(sqlite_app):
    c = sqlite_app
    c.__dict__.pop("intake_guard", None)
    answers = []
    for n in range(32):
        body = signup_body(n)
        body["contact"]["email"] = f"person{n}@flood.example"
        answers.append(post_api(body, **{"X-Forwarded-For": f"192.0.2.{n}:1"}).status_code)
    assert answers.count(202) == 30 and answers[30:] == [429, 429]
    assert post_api(signup_body(77), **{"X-Forwarded-For": "192.0.2.77:1"}).status_code == 202  # example.com


def test_the_form_over_the_limit_gets_a_page_saying_when_to_try_again(tmp_path, monkeypatch):
    c, generator = defended(tmp_path, monkeypatch, {}, INTAKE_RATE_LIMIT_PER_MINUTE="1")
    try:
        fields = {**FORM, "form_stamp": stamp(timedelta(minutes=1))}
        assert submit_form({**fields, "form_key": "a"}).status_code == 303
        over = submit_form({**fields, "form_key": "b"}, **{"accept-language": "sv"})
        assert over.status_code == 429 and over.headers["Retry-After"] == "40"
        page = over.get_body().decode()
        assert "1 minut" in page and 'lang="sv"' in page
    finally:
        next(generator, None)


def test_old_windows_are_expired(sqlite_app):
    c = sqlite_app
    for n in range(3):
        post_api(signup_body(n), **{"X-Forwarded-For": f"192.0.2.{n}:1"})
    c.clock.at = NOW + timedelta(hours=2)
    assert c.intake_guard.expire_windows() == 4  # three clients' minutes and the domain's hour
    assert c.intake_guard.expire_windows() == 0


# --- the CAPTCHA ----------------------------------------------------------------------------------------------

@pytest.fixture
def captcha_app(tmp_path, monkeypatch):
    with SiteverifyStandIn("hcaptcha", slow_seconds=2) as provider:
        c, generator = defended(tmp_path, monkeypatch, {}, CAPTCHA_PROVIDER="hcaptcha", CAPTCHA_SITE_KEY=SITE_KEY,
                                CAPTCHA_SECRET=SECRET, CAPTCHA_VERIFY_URL=provider.verify_url,
                                CAPTCHA_TIMEOUT_SECONDS="0.5")
        yield c, provider
        next(generator, None)


def test_the_api_takes_the_token_in_its_header(captcha_app):
    c, provider = captcha_app
    missing = post_api(signup_body(1))
    assert missing.status_code == 422 and json.loads(missing.get_body())["code"] == "captcha_missing"
    assert post_api(signup_body(2), **{"X-Captcha-Token": "pass-a", "X-Forwarded-For": "203.0.113.5:1"}).status_code == 202
    assert provider.requests[-1]["remoteip"] == "203.0.113.5"
    spent = post_api(signup_body(3), **{"X-Captcha-Token": "pass-a"})
    assert spent.status_code == 422 and json.loads(spent.get_body())["code"] == "captcha_expired"
    slow = post_api(signup_body(4), **{"X-Captcha-Token": "slow-a"})
    assert slow.status_code == 503 and json.loads(slow.get_body())["code"] == "captcha_unavailable"
    assert slow.headers["Retry-After"]


def test_the_form_shows_the_widget_under_a_policy_that_lets_it_in_on_that_page_only(captcha_app):
    form = get(storefront_form, "/api/signup?lang=sv", {})
    page = form.get_body().decode()
    assert 'src="https://js.hcaptcha.com/1/api.js?hl=sv"' in page and f'data-sitekey="{SITE_KEY}"' in page
    policy = form.headers["Content-Security-Policy"]
    assert "script-src 'self' https://hcaptcha.com https://*.hcaptcha.com" in policy
    assert "frame-src https://hcaptcha.com https://*.hcaptcha.com" in policy
    assert "frame-ancestors 'none'" in policy
    other = get(storefront_received, f"/api/signup/received/{uuid.uuid4()}", {"id": "x"})
    assert "hcaptcha" not in other.headers["Content-Security-Policy"]


def test_the_form_says_what_to_do_when_the_captcha_was_not_solved(captcha_app):
    fields = {**FORM, "form_stamp": stamp(timedelta(minutes=1))}
    unsolved = submit_form({**fields, "h-captcha-response": "made-up"}, **{"accept-language": "en"})
    assert unsolved.status_code == 422
    page = unsolved.get_body().decode()
    assert "did not succeed" in page and 'value="Honest Filler AB"' in page  # what was typed stays
    assert 'value="' + fields["form_stamp"] + '"' in page  # timed from when the form was first served
    unavailable = submit_form({**fields, "h-captcha-response": "slow-b"})
    assert unavailable.status_code == 503 and "in a few minutes" in unavailable.get_body().decode()
    assert submit_form({**fields, "h-captcha-response": "pass-b"}).status_code == 303
