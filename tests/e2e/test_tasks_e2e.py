"""Pengurusan Tugas in headless Chromium: a Pahang Penyedia signs in to the demo portal and
sees only the preparer's widgets of the modules their tasks reach; no code is asked.

Real everything: Keycloak's themed login, the sidecar under gunicorn, the tasks granted
through state IT's credential. Pages are saved under test-artifacts/<test>/.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from idp_extension.gateway.connection import state_it_admin
from idp_extension.gateway.tasks import TaskRoles
from tests.e2e.conftest import DESKTOP
from tests.support.accounts import active_account
from tests.support.browser_login import sign_in

PASSWORD = "Penyedia#Pahang-2026"


def test_a_pahang_preparer_sees_only_the_preparers_widgets_and_no_code_is_asked(
        sidecar, keycloak, new_page, screenshot):
    settings = sidecar.settings
    realm = "pahang"
    account = active_account(settings, realm, "tasks-e2e-penyedia", PASSWORD)
    record, user = account.record, account.user
    TaskRoles(state_it_admin(settings, realm), realm).grant(user.id, ["ac:penyedia", "sl:penyedia"])

    page = new_page(viewport=DESKTOP)
    visited: list[str] = []
    page.on("framenavigated", lambda frame: visited.append(frame.url))
    page.goto(f"{sidecar.url}/{realm}/portal/")
    sign_in(page, record.user_id, PASSWORD)
    expect(page).to_have_url(re.compile(rf"/{realm}/portal/dashboard$"))

    # Straight from the password to the dashboard: no OTP form, no required action.
    assert not [url for url in visited if "required-action" in url or "otp" in url.lower()]
    expect(page.locator("input[name=otp], #otp")).to_have_count(0)

    widgets = page.locator(".portal-widget")
    expect(widgets).to_have_count(2)
    expect(page.locator('[data-module="ac"] h3')).to_have_text(
        "Permohonan Tuntutan Pendahuluan (AC)")
    expect(page.locator('[data-module="sl"] h3')).to_have_text(
        "Permohonan Pinjaman Kakitangan (SL)")
    for module in ("ac", "sl"):
        actions = page.locator(f'[data-module="{module}"] [data-action]')
        expect(actions).to_have_count(1)
        expect(actions).to_have_attribute("data-action", "prepare")
        expect(actions).to_have_text("Sediakan Permohonan")
    expect(page.locator('[data-action="approve"], [data-action="check"]')).to_have_count(0)
    for module in ("proc", "py", "aim"):
        expect(page.locator(f'[data-module="{module}"]')).to_have_count(0)
    expect(page.locator('[data-widget="loan-information"]')).to_have_text("Maklumat Pinjaman")
    expect(page.locator('[data-menu="administration"]')).to_have_count(0)
    expect(page.locator('[data-field="name-and-department"]')).to_contain_text(record.name)
    expect(page.locator('[data-field="name-and-department"]')).to_contain_text(
        record.department)
    screenshot(page, "dashboard-penyedia-ms")

    page.locator('a[hreflang="en"]').first.click()
    expect(page.locator('[data-module="ac"] h3')).to_have_text("Advance Claim Application (AC)")
    expect(page.locator('[data-module="ac"] [data-action]')).to_have_text("Prepare an application")
    expect(page.locator('[data-field="name-and-department"]')).to_contain_text(
        "Name and Department")
    screenshot(page, "dashboard-penyedia-en")
