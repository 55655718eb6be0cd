"""The activation report page in headless Chromium at 360 and 1280 px (issue 13, section 2).

A Pahang Meja Bantuan officer signs in (password, then enrols TOTP as the task requires),
lands on the report and sees the server-drawn chart; the page never scrolls sideways
and the chart's labels stay readable at both widths. No script is needed: the test
turns JavaScript off. Screenshots: test-artifacts/<test name>/.
"""

from __future__ import annotations

import re

from tests.e2e.conftest import DESKTOP, PHONE
from tests.e2e.test_totp_e2e import _account, tenants  # noqa: F401 - fixture
from tests.integration.test_activation_report import _department, _seed
from tests.integration.test_console_http import unused_code
from tests.support.browser_login import sign_in
from tests.support.totp_login import authenticator, next_unused_code


def _fits(page, viewport) -> None:
    width = viewport["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "no sideways scroll"
    box = page.locator("figure.report-chart svg").bounding_box()
    assert box and box["width"] <= min(width, 768) and box["width"] >= min(width - 64, 600)
    heights = page.evaluate("[...document.querySelectorAll('figure.report-chart svg text')]"
                            ".map(t => t.getBoundingClientRect().height)")
    assert heights and min(heights) >= 9 and max(heights) <= 24


def test_the_report_page_with_its_chart_at_phone_and_desktop_widths(
        browser, sidecar, settings, tenants, screenshot):  # noqa: F811
    dept = _department("E2E Laporan")
    _seed(settings, "pahang", "e2e-report", [
        (dept, "pending", ""), (dept, "active", "0"), (dept, "active", "1"),
        (dept, "active", "1")])
    user, password = _account(settings, tenants, "pahang", "e2e-report-officer", "meja-bantuan")
    signing_in = browser.new_context(viewport=DESKTOP, locale="ms-MY")
    signing_in.set_default_timeout(20_000)
    try:
        page = signing_in.new_page()
        report = f"{sidecar.url}/pahang/pentadbiran/laporan/"
        page.goto(report)
        assert page.url.startswith(f"{settings.keycloak_url}/realms/pahang/"), page.url
        sign_in(page, user.user_id, password)
        page.wait_for_selector("#kc-totp-settings-form")
        key = re.sub(r"\s+", "", page.locator("#kc-totp-secret-key").inner_text())
        app, used = authenticator(key), set()
        page.fill("#totp", next_unused_code(app, used))
        page.fill("#userLabel", "Telefon meja bantuan")
        page.click("#saveTOTPBtn")
        # Enrolling is not the OTP form (no "otp" in amr): the console's guard asks once
        # for a login with the code (prompt=login), then the report opens.
        page.wait_for_selector("#kc-form-login, #report-as-of")
        if page.locator("#kc-form-login").count():
            if page.locator("#username").count():
                sign_in(page, user.user_id, password)
            else:  # re-authentication: Keycloak knows who, asks the password only
                page.fill("#password", password)
                page.click("#kc-login")
            page.wait_for_selector("#kc-otp-login-form")
            page.fill("#otp", unused_code(app, used))
            page.click("#kc-login")
        page.wait_for_url(report)
        signed_in = signing_in.storage_state()
    finally:
        signing_in.close()

    # The report itself with JavaScript off: everything is drawn by the server.
    context = browser.new_context(viewport=DESKTOP, locale="ms-MY", java_script_enabled=False,
                                  storage_state=signed_in)
    context.set_default_timeout(20_000)
    try:
        page = context.new_page()
        page.goto(report)
        assert page.locator("#report-title").inner_text() == "Laporan Kempen Pengaktifan"
        assert "Angka setakat" in page.locator("#report-as-of").inner_text()
        assert page.locator(f'tr[data-department="{dept}"] a').inner_text() == dept
        _fits(page, DESKTOP)
        screenshot(page, "report-1280")

        page.set_viewport_size(PHONE)
        page.reload()
        _fits(page, PHONE)
        screenshot(page, "report-360")

        page.locator(f'tr[data-department="{dept}"] a').click()
        assert "Pengguna belum aktif" in page.locator("#pending-title").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(page, "pending-360")
    finally:
        context.close()
