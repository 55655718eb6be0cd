"""The activation report page in headless Chromium at 360 and 1280 px (issue 13, section 2).

A Pahang Meja Bantuan officer signs in (password, then enrols TOTP as the task requires),
lands on the report and sees the server-drawn chart; the page never scrolls sideways
and the chart's labels stay readable at both widths. No script is needed: the test
turns JavaScript off. Screenshots: test-artifacts/<test name>/.
"""

from __future__ import annotations

from tests.e2e.conftest import DESKTOP, PHONE
from tests.support.accounts import active_account
from tests.support.browser_login import sign_in_to_console
from tests.support.reporting import department, seed_departments


def _fits(page, viewport) -> None:
    width = viewport["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "no sideways scroll"
    box = page.locator("figure.report-chart svg").bounding_box()
    assert box and box["width"] <= min(width, 768) and box["width"] >= min(width - 64, 600)
    heights = page.evaluate("[...document.querySelectorAll('figure.report-chart svg text')]"
                            ".map(t => t.getBoundingClientRect().height)")
    assert heights and min(heights) >= 9 and max(heights) <= 24


def test_the_report_page_with_its_chart_at_phone_and_desktop_widths(
        browser, sidecar, settings, screenshot):
    dept = department("E2E Laporan")
    seed_departments(settings, "pahang", "e2e-report", [
        (dept, "pending", ""), (dept, "active", "0"), (dept, "active", "1"),
        (dept, "active", "1")])
    officer = active_account(settings, "pahang", "e2e-report-officer", tasks=("meja-bantuan",))
    signing_in = browser.new_context(viewport=DESKTOP, locale="ms-MY")
    signing_in.set_default_timeout(20_000)
    try:
        page = signing_in.new_page()
        report = f"{sidecar.url}/pahang/pentadbiran/laporan/"
        page.goto(report)
        assert page.url.startswith(f"{settings.keycloak_url}/realms/pahang/"), page.url
        sign_in_to_console(page, officer.user.user_id, officer.password, "#report-as-of")
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
