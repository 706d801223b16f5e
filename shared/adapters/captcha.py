"""The CaptchaVerifier port for Cloudflare Turnstile, hCaptcha and Google reCAPTCHA: each provider's
documented server-side "siteverify" API, a form-encoded POST of the secret, the widget's token and the
client's address, answered with JSON ``{"success": …, "error-codes": [...], …}``.

- Turnstile: https://challenges.cloudflare.com/turnstile/v0/siteverify (fields secret, response, remoteip).
- hCaptcha: https://api.hcaptcha.com/siteverify (secret, response, remoteip, sitekey: hCaptcha checks that
  the token was issued for our site key).
- reCAPTCHA: https://www.google.com/recaptcha/api/siteverify (secret, response, remoteip); v3 answers with a
  ``score``, which the service compares with RECAPTCHA_MIN_SCORE.

The three differ in the URL, the widget's token field and (hCaptcha) one field; one class serves them all.
``requests`` is the project's HTTP client already; the timeout bounds the whole wait for an answer."""
from __future__ import annotations

from dataclasses import dataclass

from shared.ports import CaptchaAnswer, CaptchaUnreachable


@dataclass(frozen=True)
class Provider:
    name: str
    verify_url: str
    token_field: str  # the form field the widget fills with its token
    script_url: str  # the widget's script, loaded by the form page
    widget_class: str  # the element the script turns into the widget
    # The origins the form page's Content-Security-Policy must allow, per directive (the providers' own lists).
    page_origins: dict[str, tuple[str, ...]]
    sends_site_key: bool = False


PROVIDERS: dict[str, Provider] = {
    "turnstile": Provider(
        "turnstile", "https://challenges.cloudflare.com/turnstile/v0/siteverify", "cf-turnstile-response",
        "https://challenges.cloudflare.com/turnstile/v0/api.js", "cf-turnstile",
        {"script-src": ("https://challenges.cloudflare.com",), "frame-src": ("https://challenges.cloudflare.com",)}),
    "hcaptcha": Provider(
        "hcaptcha", "https://api.hcaptcha.com/siteverify", "h-captcha-response", "https://js.hcaptcha.com/1/api.js",
        "h-captcha",
        {directive: ("https://hcaptcha.com", "https://*.hcaptcha.com")
         for directive in ("script-src", "frame-src", "style-src", "connect-src")},
        sends_site_key=True),
    "recaptcha": Provider(
        "recaptcha", "https://www.google.com/recaptcha/api/siteverify", "g-recaptcha-response",
        "https://www.google.com/recaptcha/api.js", "g-recaptcha",
        {"script-src": ("https://www.google.com/recaptcha/", "https://www.gstatic.com/recaptcha/"),
         "frame-src": ("https://www.google.com/recaptcha/", "https://recaptcha.google.com/recaptcha/")}),
}


class SiteverifyCaptcha:
    """One provider's siteverify API (``PROVIDERS``), at ``verify_url`` when given (a test's stand-in)."""

    def __init__(self, provider: str, secret: str, site_key: str, *, verify_url: str = "", timeout: float = 5.0):
        self._provider = PROVIDERS[provider]
        self.provider, self.token_field = provider, self._provider.token_field
        self._secret, self._site_key = secret, site_key
        self._url = verify_url or self._provider.verify_url
        self._timeout = timeout
        self._session = None

    def _http(self):
        import requests  # here: a cold start that never sees a CAPTCHA does not load it

        if self._session is None:
            self._session = requests.Session()  # keep-alive to the provider across requests
        return self._session

    def verify(self, token: str, remote_ip: str | None) -> CaptchaAnswer:
        import requests

        form = {"secret": self._secret, "response": token}
        if remote_ip:
            form["remoteip"] = remote_ip
        if self._provider.sends_site_key and self._site_key:
            form["sitekey"] = self._site_key
        try:
            reply = self._http().post(self._url, data=form, timeout=self._timeout)
            body = reply.json()
        except (requests.RequestException, ValueError) as error:
            raise CaptchaUnreachable(f"{self.provider} siteverify did not answer: {type(error).__name__}") from None
        # A provider answers 200 with success false for a bad token; any other status, or a body that is not
        # its answer (a proxy's error page), is no answer at all.
        if reply.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("success"), bool):
            raise CaptchaUnreachable(f"{self.provider} siteverify answered {reply.status_code} without a verdict")
        codes = body.get("error-codes") or []
        score = body.get("score")
        return CaptchaAnswer(success=body["success"], error_codes=tuple(str(code) for code in codes),
                             score=float(score) if isinstance(score, (int, float)) else None,
                             hostname=body.get("hostname") if isinstance(body.get("hostname"), str) else None)
