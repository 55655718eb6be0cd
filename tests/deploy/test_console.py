"""The helpdesk console behind the proxy's /idp prefix, on the production topology.

A Pahang officer (Meja Bantuan, so TOTP: an authenticator app made with pyotp at the
first login) signs in to "Pentadbiran Pengguna" through nginx: Keycloak's login form,
the password, a code, the console's callback. Every link and form action of the pages
and every cookie the sidecar sets carry /idp, and the forms work through the proxy (a
user's card, "Log Keluar").
"""

from __future__ import annotations

import html
import re

import pytest

from tests.deploy.support import CSRF, Production
from tests.support.accounts import active_account
from tests.support.pages import local_urls, outside
from tests.support.totp_login import StepLogin, sign_in_via

# Alone, this module starts the session's topology within its test's time.
pytestmark = pytest.mark.timeout(900)

PREFIX = "/idp"
FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')


def test_an_officer_signs_in_to_the_console_through_the_proxy(production: Production):
    realm = "pahang"
    settings = production.settings
    officer = active_account(settings, realm, "deploy-console-officer", tasks=("meja-bantuan",))
    target = active_account(settings, realm, "deploy-console-target")
    user_id, password = officer.user.user_id, officer.password
    # The first login (through the proxy too) enrols the app the task requires.
    enrolling = StepLogin(production.url, realm, session=production.session())
    app, used, _ = enrolling.first_login_enrolling(user_id, password)

    browser = production.session()
    console = f"{production.url}{PREFIX}/{realm}/pentadbiran"
    home = sign_in_via(browser, f"{console}/", user_id, password, app, used)
    assert (home.status_code, home.url) == (200, f"{console}/"), home.text[:300]
    # Keycloak sent the browser back to the console's callback under the prefix.
    assert any(step.url.startswith(f"{console}/callback?") for step in home.history), [
        step.url for step in home.history]
    assert "Pentadbiran Pengguna" in home.text and user_id in home.text

    card = browser.get(f"{console}/pengguna/{target.user.user_id}", timeout=30)
    assert card.status_code == 200, card.text[:300]
    assert target.record.name in html.unescape(card.text)
    for page in (home, card):
        assert local_urls(page.text) and outside(page.text, PREFIX) == [], page.url
        actions = [html.unescape(a) for a in FORM_ACTION.findall(page.text)]
        assert actions and all(a.startswith(f"{PREFIX}/{realm}/pentadbiran/") for a in actions)
    assert f'action="{PREFIX}/{realm}/pentadbiran/pengguna/{target.user.user_id}/' in card.text

    sidecar_cookies = [c for c in browser.cookies if not c.path.startswith("/realms/")]
    assert "ispeks_session" in {c.name for c in sidecar_cookies}
    assert all(c.path.startswith(PREFIX) and c.secure for c in sidecar_cookies), [
        (c.name, c.path, c.secure) for c in sidecar_cookies]

    # "Log Keluar": the page's own form action, through the proxy, to the signed-out page.
    logout = next(a for a in FORM_ACTION.findall(card.text) if a.endswith("/logout"))
    out = browser.post(f"{production.url}{html.unescape(logout)}", timeout=30,
                       data={"csrf_token": CSRF.search(card.text).group(1)})
    assert (out.status_code, out.url) == (200, f"{console}/signed-out"), out.text[:300]
    assert "Anda telah log keluar daripada Pentadbiran Pengguna." in html.unescape(out.text)
    assert browser.get(f"{console}/", allow_redirects=False, timeout=30).status_code in (302, 303)
