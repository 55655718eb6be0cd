"""A helpdesk console officer over HTTP: the in-process sidecar, the real Keycloak.

An officer is a real user holding ``meja-bantuan`` or ``pentadbir-sistem`` (composites of
``totp-wajib``): they enrolled an authenticator app (pyotp) at a first login and sign in
to the console through Keycloak's forms with their password and an unused code. Used by
the console's tests and the report pages' tests alike.
"""

from __future__ import annotations

import html
import re

from tests.support.accounts import active_account
from tests.support.inprocess import Page, Stack
from tests.support.totp_login import StepLogin, next_unused_code

OTP_FORM = re.compile(r'<form[^>]*id="kc-otp-login-form"[^>]*action="([^"]+)"')


def keycloak_page(stack: Stack, browser, start: str) -> Page:
    """Follow a sidecar page's redirects to Keycloak; return Keycloak's page."""
    answer = browser.get(start)
    while answer.status in (302, 303) and not answer.location.startswith(
            stack.settings.keycloak_url):
        answer = browser.get(answer.location)
    assert answer.status in (302, 303), answer.text[:300]
    return browser.get(answer.location)


class Officer:
    """A new officer of ``realm`` holding ``tasks``, their app enrolled, not signed in yet."""

    def __init__(self, stack: Stack, realm: str, seed: str, *tasks: str) -> None:
        self.stack, self.realm = stack, realm
        account = active_account(stack.settings, realm, f"officer:{seed}", tasks=tasks)
        self.record, self.user, self.password = account.record, account.user, account.password
        login = StepLogin(stack.settings.keycloak_url, realm)
        self.app, self.used, _ = login.first_login_enrolling(self.record.user_id,
                                                             self.password)
        self.browser = stack.browser()
        self.base = f"/{realm}/pentadbiran"

    def keycloak_page(self, start: str) -> Page:
        return keycloak_page(self.stack, self.browser, start)

    def sign_in(self, start: str | None = None, *, code: bool = True) -> Page:
        """From a console page to Keycloak: password, code, back to the callback."""
        page = self.keycloak_page(start or f"{self.base}/")
        answer = self.browser.login_form(page, self.record.user_id, self.password)
        if code:
            answer = self.code(answer)
        assert answer.status == 302, answer.text[:300]
        return self.browser.get(answer.location)

    def code(self, page: Page) -> Page:
        """Answer Keycloak's OTP form on ``page`` with an unused code."""
        assert page.status == 200, page.text[:300]
        action = OTP_FORM.search(page.body)
        assert action, f"no OTP form: {page.text[:300]}"
        return self.browser.post(html.unescape(action.group(1)),
                                 {"otp": next_unused_code(self.app, self.used)})

    def act(self, user_id: str, action: str, reason: str = "Permintaan melalui telefon",
            confirm: bool = True, **fields) -> Page:
        """An action on a user's card (``buka-kunci``, ...), with its reason."""
        card = f"{self.base}/pengguna/{user_id}"
        data = {**fields, "reason": reason, "next": card}
        if confirm:
            data["confirm"] = "yes"
        return self.browser.submit_to(card, f"{card}/{action}", data)
