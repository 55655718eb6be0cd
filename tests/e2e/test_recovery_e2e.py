"""A user who forgot the password recovers it, in Pahang and in Melaka, in headless Chromium.

Real everything: Keycloak's themed login page, the sidecar under gunicorn, SMTP into the
session's inbox. The journey starts where a user is stuck, the realm's login page, and
follows its "Lupa Kata Laluan" link; the email's link, two security questions and the
new password (live checklist) lead to "log in again", and the journey ends on the demo
portal's dashboard after signing in with the new password. A portal session opened in
another browser beforehand is signed out. Pages are saved under test-artifacts/<test>/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from idp_extension.demo_users import synthetic_people
from idp_extension.flows.answers import ANSWERS_ATTRIBUTE, hash_answers
from idp_extension.flows.first_login import IMAGE_ATTRIBUTE, PHRASE_ATTRIBUTE
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE, UserDirectory
from idp_extension.tenants import load_tenants
from tests.e2e.conftest import DESKTOP, PHONE
from tests.support.browser_login import (
    choose_password, follow_from_login, link_by_mail, open_login_page, script_errors,
    show_password_step, sign_in,
)
from tests.support.constants import ANSWER_TO, ANSWERS, FAST_HASHER, NEW_PASSWORD, OLD_PASSWORD

LINK = re.compile(r"https?://\S+?/recovery/link/[A-Za-z0-9_.\-]+")
PHRASE = ("Wau Bulan di Pantai Klebang", "kite")


def _active_user(settings, realm: str, seed: str):
    tenant = load_tenants(settings.realm_templates_dir)[realm]
    [record] = synthetic_people(tenant, 1, seed=seed)
    directory = UserDirectory(bootstrap_admin(settings), realm)
    user, _ = directory.register_pending(record)
    directory.set_password(user.id, OLD_PASSWORD)
    directory.update_attributes(user.id, {
        ACTIVATION_STATE: [ACTIVE], ANSWERS_ATTRIBUTE: [hash_answers(ANSWERS, FAST_HASHER)],
        PHRASE_ATTRIBUTE: [PHRASE[0]], IMAGE_ATTRIBUTE: [PHRASE[1]]})
    return record, user, directory


@pytest.mark.parametrize("realm, viewport", [("pahang", DESKTOP), ("melaka", PHONE)],
                         ids=["pahang-activation-link-desktop", "melaka-temporary-password-phone"])
def test_a_user_recovers_the_password_from_the_login_page_to_the_portal(
        sidecar, keycloak, mail_inbox, new_page, screenshot, realm, viewport):
    settings = sidecar.settings
    record, user, directory = _active_user(settings, realm, f"recovery-e2e-{realm}")

    # Somewhere else, someone is signed in to the portal with the old password.
    elsewhere = new_page(viewport=DESKTOP)
    elsewhere.goto(f"{sidecar.url}/{realm}/portal/")
    sign_in(elsewhere, record.user_id, OLD_PASSWORD)
    expect(elsewhere).to_have_url(re.compile(rf"/{realm}/portal/dashboard$"))
    assert len(bootstrap_admin(settings, realm).get_sessions(user.id)) == 1

    page = new_page(viewport=viewport)
    errors = script_errors(page)

    # The login page: "Lupa Kata Laluan".
    open_login_page(page, sidecar.url, keycloak.url, realm)
    screenshot(page, "login-page")
    follow_from_login(page, "#ispeks-recovery", f"{sidecar.url}/{realm}/recovery")
    expect(page).to_have_url(f"{sidecar.url}/{realm}/recovery")
    expect(page.get_by_role("heading", name="Lupa Kata Laluan")).to_be_visible()
    screenshot(page, "recovery-form")

    email, link = link_by_mail(
        page, mail_inbox, record,
        "emel untuk menetapkan semula kata laluan telah dihantar ke emel rasmi", LINK)
    screenshot(page, "recovery-sent")

    # The email's link, then two of the three security questions.
    assert record.name in email.text and record.user_id in email.text
    page.goto(link)
    expect(page).to_have_url(f"{sidecar.url}/{realm}/recovery/questions")
    expect(page.get_by_role("heading", name="Soalan Keselamatan")).to_be_visible()
    fields = page.locator("input[name^=answer_]")
    expect(fields).to_have_count(2)
    asked = [name.removeprefix("answer_") for name in
             (fields.nth(i).get_attribute("name") for i in range(2))]
    screenshot(page, "questions")
    page.fill(f"#answer_{asked[0]}", ANSWER_TO[asked[0]])
    page.fill(f"#answer_{asked[1]}", "Bukan Jawapannya")
    page.get_by_role("button", name="Seterusnya").click()
    expect(page.get_by_text("Baki percubaan: 2", exact=False).first).to_be_visible()
    screenshot(page, "questions-one-wrong")
    page.reload()
    assert [page.locator("input[name^=answer_]").nth(i).get_attribute("name")
            for i in range(2)] == [f"answer_{q}" for q in asked]  # the same two questions
    for question in asked:
        page.fill(f"#answer_{question}", ANSWER_TO[question].upper())
    page.get_by_role("button", name="Seterusnya").click()

    # The new password: live checklist, history, "sign out everywhere" ticked.
    expect(page).to_have_url(f"{sidecar.url}/{realm}/recovery/password")
    save = page.get_by_role("button", name="Simpan")
    expect(save).to_be_disabled()
    expect(page.get_by_label("Log keluar daripada semua sesi lain (disyorkan)")).to_be_checked()
    page.get_by_label("Kata Laluan Baru", exact=True).fill("kucing9")
    expect(page.locator("[data-rule=lower]")).to_have_class(re.compile("rule-met"))
    expect(page.locator("[data-rule=upper]")).to_have_class(re.compile("rule-unmet"))
    screenshot(page, "password-partly-met")
    page.get_by_label("Kata Laluan Baru", exact=True).fill(OLD_PASSWORD)
    page.get_by_label("Sah Kata Laluan Baru").fill(OLD_PASSWORD)
    expect(save).to_be_enabled()
    save.click()
    expect(page.get_by_text("Kata laluan ini telah digunakan baru-baru ini.").first).to_be_visible()
    screenshot(page, "password-from-history")
    choose_password(page, NEW_PASSWORD, "Kata Laluan Baru", "Sah Kata Laluan Baru")
    screenshot(page, "password-all-met")
    page.get_by_role("button", name="Simpan").click()

    # "Log in again".
    expect(page.get_by_text("Kata laluan anda telah berjaya ditetapkan semula.")).to_be_visible()
    expect(page.get_by_text("Anda telah dilog keluar daripada semua sesi lain.")).to_be_visible()
    screenshot(page, "recovered")
    assert bootstrap_admin(settings, realm).get_sessions(user.id) == []

    page.get_by_role("link", name="Log Masuk Semula").click()
    expect(page.locator("#username")).to_be_visible()
    show_password_step(page, record.user_id)
    if realm == "melaka":  # the secret phrase and image above the password
        expect(page.locator("#ispeks-phrase")).to_have_text(PHRASE[0])
    screenshot(page, "login-again")
    page.fill("#password", NEW_PASSWORD)
    page.click("#kc-login")
    expect(page).to_have_url(re.compile(rf"/{realm}/portal/dashboard$"))
    expect(page.locator("[data-field=user-id]")).to_have_text(record.user_id)
    screenshot(page, "portal-dashboard")

    # The other browser's portal session was ended at Keycloak: it must sign in again.
    elsewhere.context.clear_cookies(name="ispeks_session")
    elsewhere.goto(f"{sidecar.url}/{realm}/portal/")
    expect(elsewhere.locator("#username")).to_be_visible()
    assert errors == []
