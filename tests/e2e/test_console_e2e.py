"""The helpdesk console (issue 13) in headless Chromium: a Pahang Meja Bantuan officer
enrols TOTP at the console's first sign-in, finds a locked user by ID, unlocks them with
a reason, and the user then logs in to the portal. Screenshots: test-artifacts/<test>/.
"""

from __future__ import annotations

import json

from tests.support.accounts import active_account
from tests.support.browser_login import sign_in, sign_in_to_console
from tests.support.lockout import wait_until_locked
from tests.support.oidc_login import login


def test_helpdesk_officer_enrols_totp_finds_a_locked_user_and_unlocks_them(
        new_page, sidecar, settings, screenshot):
    state = "pahang"
    officer = active_account(settings, state, "e2e-console-officer", tasks=("meja-bantuan",))
    locked = active_account(settings, state, "e2e-console-locked")
    user, password, directory = locked.user, locked.password, locked.directory
    # Locked by Keycloak after three wrong passwords.
    for _ in range(3):
        login(settings.keycloak_url, state, user.user_id, "Salah-Kata-Laluan1")
    wait_until_locked(directory, user.id)

    page = new_page()
    page.goto(f"{sidecar.url}/{state}/pentadbiran/")
    assert page.url.startswith(f"{settings.keycloak_url}/realms/{state}/"), page.url
    # Meja Bantuan requires TOTP: Keycloak enrols the app before the console opens.
    sign_in_to_console(page, officer.user.user_id, officer.password, "#console-officer",
                       screenshot)
    page.wait_for_url(f"{sidecar.url}/{state}/pentadbiran/")
    assert officer.user.user_id in page.locator("#console-officer").inner_text()
    screenshot(page, "console-home")

    # Find the locked user by ID with dashes.
    dashed = f"{user.user_id[:6]}-{user.user_id[6:8]}-{user.user_id[8:]}"
    page.fill("#q", dashed)
    page.click("#console-search button[type=submit]")
    page.click(f"text={user.user_id}")
    assert "Dikunci" in page.locator("#card-status").inner_text()
    screenshot(page, "locked-user-card")

    form = page.locator("#action-buka-kunci")
    form.locator("input[name=reason]").fill("Pengguna menghubungi Meja Bantuan: lupa kata laluan")
    form.locator("input[name=confirm]").check()
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#console-notice")
    assert "dibuka kunci" in page.locator("#console-notice").inner_text()
    assert "Aktif" in page.locator("#card-status").inner_text()
    assert "lupa kata laluan" in page.locator("#audit-trail").inner_text()
    screenshot(page, "unlocked")

    entries = [json.loads(line) for line in
               settings.audit_log_path.read_text().splitlines()]
    (unlocked,) = [e for e in entries if e["event"] == "console:action"
                   and e["subject"] == user.user_id]
    assert unlocked["details"]["actor"] == officer.user.user_id

    # The user logs in again (a new browser).
    portal = new_page()
    portal.goto(f"{sidecar.url}/{state}/portal/")
    sign_in(portal, user.user_id, password)
    portal.wait_for_url(f"{sidecar.url}/{state}/portal/dashboard")
    assert portal.locator('[data-field="user-id"]').inner_text() == user.user_id
    screenshot(portal, "user-logged-in")
