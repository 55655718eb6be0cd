"""A new user activates in Pahang and in Kelantan, in headless Chromium, to the first login.

Real everything: Keycloak (themed login), the sidecar under gunicorn, SMTP into the
session's inbox. The journey starts at the realm's login page, as manuals 000-002 do
(Langkah 1), and ends on the demo Portal iSPEKS dashboard after signing in with the new
password. Every page is saved under test-artifacts/<test>/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from idp_extension.demo_users import synthetic_people
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import ACTIVE, UserDirectory
from idp_extension.tenants import load_tenants
from tests.e2e.conftest import DESKTOP, PHONE
from tests.support.browser_login import (
    choose_password, follow_from_login, link_by_mail, open_login_page, script_errors,
)
from tests.support.constants import NEW_PASSWORD

PASSWORD = NEW_PASSWORD
LINK = re.compile(r"https?://\S+?/activation/link/[A-Za-z0-9_.\-]+")


def _sign_in(page: Page, user_id: str, password: str) -> None:
    """Fill Keycloak's login form, shown in one step or (themed) in two."""
    page.fill("#username", user_id)
    if not page.locator("#password").is_visible():
        # The theme's first step: "Seterusnya" (a plain button, the form is not sent yet).
        page.locator("#ispeks-next:visible, #kc-login:visible").first.click()
        expect(page.locator("#password")).to_be_visible()
    page.fill("#password", password)
    page.locator("#kc-login").click()


@pytest.mark.parametrize("realm, viewport", [("pahang", DESKTOP), ("kelantan", PHONE)],
                         ids=["pahang-desktop", "kelantan-phone"])
def test_a_new_user_activates_from_the_login_page_to_the_first_login(
    sidecar, keycloak, mail_inbox, new_page, screenshot, realm, viewport
):
    settings = sidecar.settings
    tenant = load_tenants(settings.realm_templates_dir)[realm]
    [record] = synthetic_people(tenant, 1, seed=f"activation-e2e-{viewport['width']}")
    directory = UserDirectory(bootstrap_admin(settings), realm)
    directory.register_pending(record)
    page = new_page(viewport=viewport)
    errors = script_errors(page)

    # Langkah 1: the realm's login page (through the portal, as a user arrives).
    open_login_page(page, sidecar.url, keycloak.url, realm)
    screenshot(page, "login-page")

    # Langkah 2-3: the login page's "klik di sini", "Emel Pengaktifan Akaun".
    follow_from_login(page, f"a[href*='/{realm}/activation']", f"{sidecar.url}/{realm}/activation")
    expect(page.get_by_role("heading", name="Emel Pengaktifan Akaun")).to_be_visible()
    expect(page.get_by_label("Sila nyatakan ID Pengguna akaun anda")).to_have_attribute(
        "placeholder", "cth:123456789012")
    expect(page.get_by_role("link", name="Kembali Ke Log Masuk")).to_be_visible()
    screenshot(page, "request-form")
    page.get_by_label("Sila nyatakan ID Pengguna akaun anda").fill("12345")
    page.get_by_role("button", name="Hantar").click()
    expect(page.locator("#user_id-error")).to_contain_text("12 digit")
    screenshot(page, "request-invalid-id")

    email, link = link_by_mail(
        page, mail_inbox, record,
        "emel pengaktifan akaun telah dihantar ke emel rasmi yang didaftarkan", LINK)
    screenshot(page, "request-sent")

    # Langkah 4: the email.
    assert email.subject == "Pengaktifan Akaun iSPEKS" and record.name in email.text
    mailbox = new_page(viewport=viewport)
    mailbox.set_content(email.html)
    expect(mailbox.get_by_role("link", name="Pengaktifan Akaun")).to_have_attribute("href", link)
    screenshot(mailbox, "email-html")

    # Langkah 5: the account page and the security questions.
    page.goto(link)
    expect(page).to_have_url(f"{sidecar.url}/{realm}/activation/account")
    expect(page.get_by_role("heading", name="Pengaktifan Akaun")).to_be_visible()
    for words in (record.user_id, record.name, record.email, "Tetapan Soalan Keselamatan",
                  "Anda perlu memilih TIGA(3) soalan keselamatan dibawah :"):
        expect(page.locator("main")).to_contain_text(words)
    next_button = page.get_by_role("button", name="Seterusnya")
    expect(next_button).to_be_disabled()
    screenshot(page, "account-questions")

    picks = [("Nama Ibu?", "Siti Aishah"), ("Kereta Pertama Anda?", "Kancil merah"),
             ("Warna Kegemaran Anda?", "Hijau"), ("Nama Sekolah Pertama Anda?", "SK Seri Indah")]
    for question, answer in picks[:3]:
        page.select_option("#qa-pick-question", label=question)
        page.fill("#qa-pick-answer", answer)
        page.get_by_role("button", name="Tambah").click()
    expect(page.locator(".qa-row:not(.qa-row-empty)")).to_have_count(3)
    expect(next_button).to_be_enabled()
    screenshot(page, "questions-three-chosen")

    # "Padam" the second row, then add another question in its place.
    page.locator(".qa-row").nth(1).get_by_role("button", name="Padam").click()
    expect(page.locator(".qa-row:not(.qa-row-empty)")).to_have_count(2)
    expect(next_button).to_be_disabled()
    expect(page.locator(".qa-row").nth(1)).to_contain_text("Warna Kegemaran Anda?")
    screenshot(page, "questions-one-removed")
    page.select_option("#qa-pick-question", label=picks[3][0])
    page.fill("#qa-pick-answer", picks[3][1])
    page.get_by_role("button", name="Tambah").click()
    expect(next_button).to_be_enabled()
    next_button.click()

    # Langkah 6: the password, its live checklist and "Tunjuk Kata Laluan".
    expect(page.get_by_label("Kata Laluan", exact=True)).to_be_visible()
    expect(page.locator(".step-done")).to_contain_text("Tetapan Soalan Keselamatan")
    finish = page.get_by_role("button", name="Selesai")
    expect(finish).to_be_disabled()
    screenshot(page, "account-password")
    page.get_by_label("Kata Laluan", exact=True).fill("kucing9")
    expect(page.locator("[data-rule=lower]")).to_have_class(re.compile("rule-met"))
    expect(page.locator("[data-rule=length]")).to_have_class(re.compile("rule-unmet"))
    expect(finish).to_be_disabled()
    screenshot(page, "password-partly-met")
    choose_password(page, PASSWORD, "Kata Laluan", "Ulang Kata Laluan")
    expect(finish).to_be_enabled()
    screenshot(page, "password-all-met")
    finish.click()

    # Langkah 7: "Tahniah", then Log Masuk with the new password.
    expect(page.get_by_text(
        "Tahniah. Akaun anda telah berjaya diaktifkan. Anda boleh log masuk ke sistem.")).to_be_visible()
    expect(page.locator(".step-done")).to_have_count(2)
    screenshot(page, "activated")
    assert directory.find(record.user_id).activation_state == ACTIVE

    page.get_by_role("link", name="Log Masuk").click()
    expect(page.locator("#username")).to_be_visible()
    screenshot(page, "login-again")
    _sign_in(page, record.user_id, PASSWORD)
    expect(page).to_have_url(re.compile(rf"/{realm}/portal/dashboard$"))
    expect(page.locator("[data-field=user-id]")).to_have_text(record.user_id)
    expect(page.locator("[data-field=name]")).to_have_text(record.name)
    screenshot(page, "portal-dashboard")
    assert errors == []


def test_the_questions_work_without_javascript(sidecar, mail_inbox, browser, artifacts_dir):
    """The three rows of selects and answers are a plain form when scripts are off."""
    settings = sidecar.settings
    realm = "pahang"
    tenant = load_tenants(settings.realm_templates_dir)[realm]
    [record] = synthetic_people(tenant, 1, seed="activation-e2e-nojs")
    UserDirectory(bootstrap_admin(settings), realm).register_pending(record)
    context = browser.new_context(viewport=DESKTOP, locale="ms-MY", java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{sidecar.url}/{realm}/activation")
        mark = mail_inbox.last_id
        page.fill("#user_id", record.user_id)
        page.click("button[type=submit]")
        link = LINK.search(mail_inbox.wait_for(to=record.email, after=mark, timeout=15).text).group(0)
        page.goto(link)
        for n, (question, answer) in enumerate(
                [("mother_name", "Siti"), ("first_car", "Kancil"), ("favourite_colour", "Biru")], 1):
            page.select_option(f"#question_{n}", question)
            page.fill(f"#answer_{n}", answer)
        folder = artifacts_dir / "test_the_questions_work_without_javascript"
        folder.mkdir(exist_ok=True)
        page.screenshot(path=str(folder / "01-questions-no-js.png"), full_page=True)
        page.click("#qa-next")
        page.fill("#password", PASSWORD)
        page.fill("#confirm", PASSWORD)
        page.screenshot(path=str(folder / "02-password-no-js.png"), full_page=True)
        page.click("#password-submit")
        expect(page.get_by_text("Tahniah. Akaun anda telah berjaya diaktifkan.")).to_be_visible()
        page.screenshot(path=str(folder / "03-activated-no-js.png"), full_page=True)
    finally:
        context.close()
