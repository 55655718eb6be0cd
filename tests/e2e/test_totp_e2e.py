"""TOTP in headless Chromium (issue 12): a Melaka approver enrols at first login from the key
the themed page shows (pyotp computes the codes), reaches the demo portal's dashboard, and
gives a code at the next login; a Pahang preparer is never asked.
Screenshots: test-artifacts/<test name>/.
"""

from __future__ import annotations

from tests.e2e.conftest import PHONE
from tests.support.accounts import active_account
from tests.support.browser_login import enrol_totp, sign_in
from tests.support.totp_login import next_unused_code


def _account(settings, state: str, seed: str, task: str):
    account = active_account(settings, state, seed, tasks=(task,))
    return account.user, account.password


def _to_login(page, sidecar, settings, state: str) -> None:
    page.goto(f"{sidecar.url}/{state}/portal/")
    assert page.url.startswith(f"{settings.keycloak_url}/realms/{state}/"), page.url


def _approver_widgets_if_any(page) -> None:
    # The approver's widgets come with the tasks work (issue 12, part 1): checked once there.
    widgets = page.locator("[data-task], [data-widget]")
    if widgets.count():
        assert "pelulus" in page.content().lower() or "lulus" in page.content().lower()


def test_melaka_approver_enrols_totp_at_first_login_and_reaches_the_dashboard(
        new_page, sidecar, settings, screenshot):
    user, password = _account(settings, "melaka", "e2e-totp-approver", "ac:pelulus")
    page = new_page()
    _to_login(page, sidecar, settings, "melaka")
    sign_in(page, user.user_id, password)

    # The themed enrolment page: steps, QR code and the key in text, Malay first.
    page.wait_for_selector("#kc-totp-settings-form")
    assert page.locator("#kc-page-title").inner_text().strip() == (
        "Tetapan Pengesahan Dua Faktor (TOTP)")
    qr = page.locator("#kc-totp-secret-qr-code")
    assert qr.is_visible() and page.evaluate(
        "() => document.getElementById('kc-totp-secret-qr-code').naturalWidth") > 0
    assert "Google Authenticator" in page.locator("#kc-totp-supported-apps").inner_text()
    assert page.locator("aside.ispeks-aside").count() == 0  # one centred card, no empty box
    screenshot(page, "enrolment")
    app, used = enrol_totp(page, "Telefon pejabat")

    page.wait_for_url(f"{sidecar.url}/melaka/portal/dashboard")
    assert page.locator('[data-field="user-id"]').inner_text() == user.user_id
    _approver_widgets_if_any(page)
    screenshot(page, "dashboard")

    # The next login (a new browser) asks for the code after the password, on a phone too.
    again = new_page(viewport=PHONE)
    _to_login(again, sidecar, settings, "melaka")
    sign_in(again, user.user_id, password)
    again.wait_for_selector("#kc-otp-login-form")
    assert "Masukkan kod 6 digit" in again.locator("#ispeks-otp-intro").inner_text()
    assert again.locator("aside.ispeks-aside").count() == 0
    screenshot(again, "code-asked-phone")
    again.fill("#otp", str((int(app.now()) + 500_000) % 10**6).zfill(6))
    again.click("#kc-login")
    again.wait_for_selector("#input-error-otp-code")
    assert again.locator("#input-error-otp-code").inner_text().strip() == "Kod pengesahan tidak sah."
    screenshot(again, "wrong-code")
    again.fill("#otp", next_unused_code(app, used))
    again.click("#kc-login")
    again.wait_for_url(f"{sidecar.url}/melaka/portal/dashboard")
    screenshot(again, "dashboard-phone")


def test_pahang_preparer_is_never_asked_for_a_code(new_page, sidecar, settings, screenshot):
    user, password = _account(settings, "pahang", "e2e-totp-preparer", "ac:penyedia")
    page = new_page()
    _to_login(page, sidecar, settings, "pahang")
    sign_in(page, user.user_id, password)

    page.wait_for_url(f"{sidecar.url}/pahang/portal/dashboard")
    assert page.locator('[data-field="user-id"]').inner_text() == user.user_id
    screenshot(page, "dashboard")
