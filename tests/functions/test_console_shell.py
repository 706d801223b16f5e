"""Who may enter the console, as whom, and the checks every console page gets from the shell: sign-in, roles,
CSRF, the platform's principal header only where the platform sets it, and the development sign-in only on
loopback outside Azure."""
from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import azure.functions as func
import pytest

from functions.console_shell import console_sign_in, console_sign_out, console_view
from shared.services.console_access import ConsoleAccess, UntrustedPrincipal

LOCAL = "http://127.0.0.1:7071"
AZURE = "https://b2b-func.azurewebsites.net"


def principal_header(name="Alice Clerk", roles=("B2B.Operator",), oid="0d3c5a2e-1111-4a5b-9c8d-000000000001") -> str:
    claims = [{"typ": "name", "val": name},
              {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": oid},
              *({"typ": "roles", "val": role} for role in roles)]
    document = {"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": "roles"}
    return base64.b64encode(json.dumps(document).encode()).decode()


def access(**overrides) -> ConsoleAccess:
    values = dict(operator_role="B2B.Operator", viewer_role="B2B.Viewer", platform_authentication=False,
                  development_sign_in=False, development_key=b"k" * 32)
    return ConsoleAccess(**{**values, **overrides})


# -- the access rules ------------------------------------------------------------------------------------------

def test_the_platform_principal_is_read_with_its_roles_when_platform_authentication_is_on():
    found = access(platform_authentication=True).principal(
        {"x-ms-client-principal": principal_header()}, {}, "b2b-func.azurewebsites.net")
    assert (found.name, found.roles, found.development) == ("Alice Clerk", frozenset({"B2B.Operator"}), False)
    assert found.operator == "Alice Clerk"


def test_a_principal_header_is_refused_where_no_platform_authentication_stands_in_front():
    """Without Easy Auth nothing strips the header from a request: anyone could send one."""
    with pytest.raises(UntrustedPrincipal):
        access(development_sign_in=True).principal({"x-ms-client-principal": principal_header()}, {}, "127.0.0.1:7071")


@pytest.mark.parametrize("header", ["not base64!", base64.b64encode(b"[1,2]").decode(),
                                    base64.b64encode(b'{"claims": "x"}').decode(), "A" * 20_000])
def test_an_unreadable_principal_header_signs_nobody_in(header):
    assert access(platform_authentication=True).principal({"x-ms-client-principal": header}, {}, "h") is None


def test_roles_decide_reading_and_acting():
    rules = access(platform_authentication=True)
    viewer = rules.principal({"x-ms-client-principal": principal_header(roles=("B2B.Viewer",))}, {}, "h")
    stranger = rules.principal({"x-ms-client-principal": principal_header(roles=())}, {}, "h")
    operator = rules.principal({"x-ms-client-principal": principal_header()}, {}, "h")
    assert (rules.can_read(viewer), rules.can_act(viewer)) == (True, False)
    assert (rules.can_read(stranger), rules.can_act(stranger)) == (False, False)
    assert (rules.can_read(operator), rules.can_act(operator)) == (True, True)


def test_role_names_are_configurable():
    rules = access(platform_authentication=True, operator_role="Commerce.Clerk")
    clerk = rules.principal({"x-ms-client-principal": principal_header(roles=("Commerce.Clerk",))}, {}, "h")
    assert rules.can_act(clerk)


@pytest.mark.parametrize("environ, available", [
    ({"WEBSITE_HOSTNAME": "127.0.0.1:7071"}, True),
    ({"WEBSITE_HOSTNAME": "localhost:7071"}, True),
    ({"WEBSITE_HOSTNAME": "[::1]:7071"}, True),
    ({"WEBSITE_HOSTNAME": "0.0.0.0:7071"}, False),  # listening on every interface: others could reach it
    ({"WEBSITE_HOSTNAME": "b2b.example.com"}, False),
    ({}, False),
    ({"WEBSITE_HOSTNAME": "127.0.0.1:7071", "WEBSITE_INSTANCE_ID": "abc"}, False),  # never in Azure
    ({"WEBSITE_HOSTNAME": "localhost:7071", "WEBSITE_SKU": "FlexConsumption"}, False),
])
def test_the_development_sign_in_exists_only_on_loopback_outside_azure(environ, available):
    rules = ConsoleAccess.from_environment(environ, "B2B.Operator", "B2B.Viewer")
    assert rules.development_available("127.0.0.1:7071") is available


def test_the_development_sign_in_is_not_offered_to_a_request_addressed_to_another_host():
    rules = ConsoleAccess.from_environment({"WEBSITE_HOSTNAME": "127.0.0.1:7071"}, "B2B.Operator", "B2B.Viewer")
    assert not rules.development_available("devbox.example.com:7071")
    assert rules.sign_in_url("/api/console", "devbox.example.com:7071") is None


def test_a_development_cookie_signed_by_another_process_or_edited_signs_nobody_in():
    mine, theirs = access(development_sign_in=True), access(development_sign_in=True, development_key=b"o" * 32)
    cookie = theirs.development_cookie("Mallory", "operator")
    assert mine.principal({}, {"b2b_console_dev": cookie}, "127.0.0.1") is None
    good = mine.development_cookie("Alice", "viewer")
    payload, _, signature = good.partition(".")
    forged = base64.urlsafe_b64encode(json.dumps({"name": "Alice", "role": "operator"}).encode()).decode()
    assert mine.principal({}, {"b2b_console_dev": f"{forged}.{signature}"}, "127.0.0.1") is None
    alice = mine.principal({}, {"b2b_console_dev": good}, "127.0.0.1")
    assert alice.operator == "Alice (development sign-in)" and not mine.can_act(alice)


# -- the guard on a page ----------------------------------------------------------------------------------------

@console_view("act")
def act_page(req: func.HttpRequest, visit) -> func.HttpResponse:
    return func.HttpResponse(f"done by {visit.operator}", status_code=200)


@console_view("read")
def read_page(req: func.HttpRequest, visit) -> func.HttpResponse:
    return func.HttpResponse(f"read by {visit.operator}; can act: {visit.can_act}", status_code=200)


def request(method, path, *, base=LOCAL, headers=None, cookies=None, form=None) -> func.HttpRequest:
    headers = dict(headers or {})
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    body = b""
    if form is not None:
        body = "&".join(f"{k}={v}" for k, v in form.items()).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return func.HttpRequest(method, f"{base}{path}", headers=headers, body=body)


@pytest.fixture
def local_console(app_container, monkeypatch):
    app_container.console_access = access(development_sign_in=True)
    return app_container.console_access


@pytest.fixture
def azure_console(app_container):
    app_container.console_access = access(platform_authentication=True)
    return app_container.console_access


def set_cookies(response: func.HttpResponse) -> dict[str, str]:
    cookies = {}
    for value in response.headers.getlist("Set-Cookie"):
        name, _, rest = value.partition("=")
        cookies[name] = rest.split(";")[0]
    return cookies


def test_no_principal_goes_to_the_development_sign_in_and_comes_back(local_console):
    response = read_page(request("GET", "/api/console/partners?q=fab"))
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/api/console/sign-in"
    assert parse_qs(location.query)["next"] == ["/api/console/partners?q=fab"]


def test_in_azure_no_principal_goes_to_the_platforms_sign_in(azure_console):
    response = read_page(request("GET", "/api/console", base=AZURE))
    assert response.status_code == 302
    assert response.headers["Location"] == "/.auth/login/aad?post_login_redirect_uri=%2Fapi%2Fconsole"


def test_without_any_sign_in_configured_the_console_says_why(app_container):
    app_container.console_access = access()
    response = read_page(request("GET", "/api/console", base=AZURE))
    assert response.status_code == 403 and b"App Service Authentication" in response.get_body()


def signed_in(console: ConsoleAccess, role: str) -> dict[str, str]:
    return {"b2b_console_dev": console.development_cookie("Alice Clerk", role)}


def test_a_get_hands_out_the_form_token_and_the_post_needs_it(local_console):
    cookies = signed_in(local_console, "operator")
    first = read_page(request("GET", "/api/console", cookies=cookies))
    assert first.status_code == 200 and b"can act: True" in first.get_body()
    token = set_cookies(first)["b2b_csrf"]
    cookies["b2b_csrf"] = token
    done = act_page(request("POST", "/api/console/x", cookies=cookies, form={"csrf": token}))
    assert done.status_code == 200 and done.get_body() == b"done by Alice Clerk (development sign-in)"


@pytest.mark.parametrize("form_token", [None, "", "forged-" + "x" * 40])
def test_a_post_with_a_missing_or_forged_form_token_is_refused(local_console, form_token):
    cookies = {**signed_in(local_console, "operator"), "b2b_csrf": "t" * 43}
    form = {} if form_token is None else {"csrf": form_token}
    response = act_page(request("POST", "/api/console/x", cookies=cookies, form=form))
    assert response.status_code == 403 and b"expired" in response.get_body()


def test_a_post_from_another_site_is_refused_even_with_the_token(local_console):
    token = "t" * 43
    cookies = {**signed_in(local_console, "operator"), "b2b_csrf": token}
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        response = act_page(request("POST", "/api/console/x", cookies=cookies, form={"csrf": token}, headers=headers))
        assert response.status_code == 403, headers


def test_a_viewer_reads_but_may_not_act(local_console):
    token = "t" * 43
    cookies = {**signed_in(local_console, "viewer"), "b2b_csrf": token}
    assert read_page(request("GET", "/api/console", cookies=cookies)).status_code == 200
    refused = act_page(request("POST", "/api/console/x", cookies=cookies, form={"csrf": token}))
    assert refused.status_code == 403 and b"B2B.Operator" in refused.get_body()


def test_a_principal_header_sent_to_an_app_without_platform_authentication_is_refused(local_console):
    response = read_page(request("GET", "/api/console", headers={"X-MS-CLIENT-PRINCIPAL": principal_header()}))
    assert response.status_code == 403 and b"App Service Authentication" in response.get_body()


def test_the_platform_principal_acts_under_its_own_name(azure_console):
    token = "t" * 43
    response = act_page(request("POST", "/api/console/x", base=AZURE, cookies={"__Host-b2b_csrf": token},
                                headers={"X-MS-CLIENT-PRINCIPAL": principal_header()}, form={"csrf": token}))
    assert response.get_body() == b"done by Alice Clerk"


def test_the_form_token_cookie_is_host_only_and_secure_over_https(azure_console):
    response = read_page(request("GET", "/api/console", base=AZURE,
                                 headers={"X-MS-CLIENT-PRINCIPAL": principal_header()}))
    [cookie] = response.headers.getlist("Set-Cookie")
    assert cookie.startswith("__Host-b2b_csrf=") and "Secure" in cookie and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie and "Path=/" in cookie and "Domain" not in cookie


def test_an_outcome_notice_is_shown_once_after_the_redirect(local_console):
    @console_view("act")
    def decide(req, visit):
        return visit.done("/api/console", "PRO-000001 approved")

    @console_view("read")
    def show(req, visit):
        return func.HttpResponse(f"notice: {visit.notice}")

    token = "t" * 43
    cookies = {**signed_in(local_console, "operator"), "b2b_csrf": token}
    answer = decide(request("POST", "/api/console/x", cookies=cookies, form={"csrf": token}))
    assert answer.status_code == 303 and answer.headers["Location"] == "/api/console"
    shown = show(request("GET", "/api/console", cookies={**cookies, **set_cookies(answer)}))
    assert shown.get_body() == b"notice: PRO-000001 approved"
    assert set_cookies(shown)["b2b_console_notice"] == ""  # cleared: the next page does not show it again


# -- the development sign-in page -------------------------------------------------------------------------------

def test_the_development_sign_in_signs_in_as_the_chosen_role(local_console):
    page = console_sign_in(request("GET", "/api/console/sign-in?next=/api/console/queues"))
    assert page.status_code == 200 and b"Development sign-in" in page.get_body()
    token = set_cookies(page)["b2b_csrf"]
    answer = console_sign_in(request("POST", "/api/console/sign-in", cookies={"b2b_csrf": token},
                                     form={"csrf": token, "name": "Bo", "role": "viewer",
                                           "next": "/api/console/queues"}))
    assert answer.status_code == 303 and answer.headers["Location"] == "/api/console/queues"
    principal = local_console.principal({}, set_cookies(answer), "127.0.0.1")
    assert principal.operator == "Bo (development sign-in)" and not local_console.can_act(principal)


@pytest.mark.parametrize("next_path", ["https://evil.example/", "//evil.example/api/console", "/api/other",
                                       "/api/console/\\evil"])
def test_sign_in_never_sends_the_clerk_off_the_console(local_console, next_path):
    token = "t" * 43
    answer = console_sign_in(request("POST", "/api/console/sign-in", cookies={"b2b_csrf": token},
                                     form={"csrf": token, "role": "operator", "next": next_path}))
    assert answer.headers["Location"] == "/api/console"


def test_sign_in_without_its_form_token_is_refused(local_console):
    answer = console_sign_in(request("POST", "/api/console/sign-in", form={"role": "operator"}))
    assert answer.status_code == 403


def test_no_development_sign_in_in_azure(azure_console):
    answer = console_sign_in(request("GET", "/api/console/sign-in", base=AZURE))
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/.auth/login/aad")


def test_sign_out_forgets_the_development_sign_in(local_console):
    token = "t" * 43
    cookies = {**signed_in(local_console, "operator"), "b2b_csrf": token}
    answer = console_sign_out(request("POST", "/api/console/sign-out", cookies=cookies, form={"csrf": token}))
    assert answer.status_code == 303 and set_cookies(answer)["b2b_console_dev"] == ""
