"""A new user's first login in Melaka ("Pendaftaran") and Selangor ("Login Kali Pertama").

Real everything, in headless Chromium: Keycloak's themed login page, the sidecar under
gunicorn, SMTP into the session's inbox. The journey starts at the realm's login page
(reached through the demo portal, as a user arrives), follows its first-login link,
reads the temporary password from the email, types it into Keycloak's login page,
completes "Maklumat Pendaftaran Baru" and ends on the portal's dashboard after the
second login with the new password. Every page is saved under test-artifacts/<test>/.
"""

from __future__ import annotations

import re
import warnings

import pytest
from playwright.sync_api import Page, expect

from idp_extension.demo_users import synthetic_people
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import ACTIVE, UserDirectory
from idp_extension.tenants import load_tenants
from tests.e2e.conftest import DESKTOP, PHONE
from tests.support.browser_login import show_password_step

NEW_PASSWORD = "Tiga#Ekor-Kucing9"
TEMPORARY = re.compile(r"Kata Laluan Sementara *: (\S+)")
REFUSAL = "Pengguna Tidak Dapat Didaftarkan, Sila Hubungi Pentadbir Sistem"


def _to_first_login(page: Page, sidecar_url: str, realm: str, name: str) -> None:
    """Follow the login page's first-login link, or go there if the theme lacks it."""
    link = page.locator("#ispeks-first-login")
    if link.count():
        expect(link).to_have_text(name)
        link.click()
    else:
        warnings.warn(f"{realm}'s login page has no first-login link yet: opening it directly")
        page.goto(f"{sidecar_url}/{realm}/first-login")


def _register(page: Page, sidecar, keycloak, mail_inbox, screenshot, realm: str, name: str,
              record, phrase: str) -> None:
    """From the realm's login page to "Pendaftaran telah berjaya", as a new user would."""
    tenant = load_tenants(sidecar.settings.realm_templates_dir)[realm]

    # The realm's login page, as a user arrives at the portal.
    page.goto(f"{sidecar.url}/{realm}/portal/")
    expect(page.locator("#username")).to_be_visible()
    assert page.url.startswith(f"{keycloak.url}/realms/{realm}/")
    screenshot(page, "login-page")

    # "Pengaktifan ID Pengguna": No Pengenalan / ID Syarikat and Emel.
    _to_first_login(page, sidecar.url, realm, name)
    expect(page).to_have_url(f"{sidecar.url}/{realm}/first-login")
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    for button in ("Isi Semula", "Keluar"):
        expect(page.get_by_role("link", name=button)).to_be_visible()
    screenshot(page, "first-login-form")
    page.get_by_label("No Pengenalan / ID Syarikat").fill(record.user_id)
    # An address outside the state's domains is refused at once (it says nothing of the ID).
    page.get_by_label("Emel", exact=True).fill("bukan.saya@gmail.com")
    page.get_by_role("button", name="Hantar").click()
    expect(page.get_by_role("alert")).to_contain_text(REFUSAL)
    expect(page.get_by_role("alert")).to_contain_text(tenant.helpdesk[0].phone)
    screenshot(page, "first-login-refused")

    mark = mail_inbox.last_id
    page.get_by_label("Emel", exact=True).fill(record.email)
    page.get_by_role("button", name="Hantar").click()
    expect(page.get_by_text(
        "kata laluan sementara telah dihantar ke emel tersebut.")).to_be_visible()
    expect(page.locator(".helpdesk-list")).to_contain_text(tenant.helpdesk[0].phone)
    screenshot(page, "temporary-password-sent")

    # The email: for a shared mailbox it names the person and their ID.
    email = mail_inbox.wait_for(to=record.email, after=mark, timeout=15)
    assert record.name in email.text and record.user_id in email.subject
    temporary = TEMPORARY.search(email.text).group(1)

    # "Log Masuk": Keycloak's login page checks the temporary password.
    page.get_by_role("link", name="Log Masuk").click()
    expect(page.locator("#username")).to_be_visible()
    assert page.url.startswith(f"{keycloak.url}/realms/{realm}/")
    screenshot(page, "login-with-temporary-password")
    show_password_step(page, record.user_id)
    page.fill("#password", temporary)
    screenshot(page, "temporary-password-step")
    page.click("#kc-login")

    # "Maklumat Pendaftaran Baru".
    expect(page).to_have_url(f"{sidecar.url}/{realm}/first-login/register")
    expect(page.get_by_role("heading", name="Maklumat Pendaftaran Baru")).to_be_visible()
    for words in (record.user_id, record.name, record.email):
        expect(page.locator("main")).to_contain_text(words)
    activate = page.get_by_role("button", name="Aktif")
    expect(activate).to_be_disabled()  # until the password meets the checklist
    screenshot(page, "registration-form")

    new_password = page.get_by_label("Kata Laluan Baru *", exact=True)
    new_password.fill("kucing9")
    expect(page.locator("[data-rule=lower]")).to_have_class(re.compile("rule-met"))
    expect(page.locator("[data-rule=length]")).to_have_class(re.compile("rule-unmet"))
    new_password.fill(NEW_PASSWORD)
    page.get_by_label("Sah Kata Laluan Baru *").fill(NEW_PASSWORD)
    expect(page.locator(".rule-met")).to_have_count(5)
    for n, (question, answer) in enumerate([("Nama Ibu?", "Siti Aishah"),
                                            ("Kereta Pertama Anda?", "Kancil merah"),
                                            ("Warna Kegemaran Anda?", "Hijau")], start=1):
        page.select_option(f"#question_{n}", label=question)
        page.fill(f"#answer_{n}", answer)
    # The gallery is a group of radio buttons named by the pictures' alt text.
    gallery = page.get_by_role("group", name="Imej Online")
    expect(gallery.get_by_role("radio")).to_have_count(16)
    gallery.get_by_role("radio", name="Burung enggang di atas dahan").check(force=True)
    expect(page.locator("#image-hornbill")).to_be_checked()
    page.get_by_label("Frasa Rahsia").fill(phrase)
    expect(activate).to_be_enabled()
    screenshot(page, "registration-filled")
    activate.click()

    # "Pendaftaran telah berjaya".
    expect(page).to_have_url(f"{sidecar.url}/{realm}/first-login/done")
    expect(page.get_by_text(
        "Pendaftaran telah berjaya, pengguna boleh menggunakan sistem Portal iSPEKS.")).to_be_visible()
    screenshot(page, "registration-done")


def _new_pending_user(sidecar, realm: str, seed: str):
    tenant = load_tenants(sidecar.settings.realm_templates_dir)[realm]
    [record] = synthetic_people(tenant, 1, seed=seed)
    directory = UserDirectory(bootstrap_admin(sidecar.settings), realm)
    user, created = directory.register_pending(record)
    assert created
    return directory, record, user


@pytest.mark.parametrize("realm, name, viewport", [
    ("melaka", "Pendaftaran", DESKTOP),
    ("selangor", "Login Kali Pertama", PHONE),
], ids=["melaka-desktop", "selangor-phone"])
def test_a_new_user_registers_from_the_login_page_to_the_dashboard(
    sidecar, keycloak, mail_inbox, new_page, screenshot, realm, name, viewport
):
    directory, record, user = _new_pending_user(sidecar, realm, f"first-login-e2e-{realm}")
    phrase = "Wau Bulan di Kampung"
    page = new_page(viewport=viewport)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    _register(page, sidecar, keycloak, mail_inbox, screenshot, realm, name, record, phrase)

    stored = directory.get(user.id)
    assert stored.activation_state == ACTIVE
    assert stored.attributes["ispeks_secret_phrase"] == [phrase]
    assert stored.attributes["ispeks_image_id"] == ["hornbill"]

    # "Log Masuk": Keycloak asks for the password again (its session ended), the new one.
    page.get_by_role("link", name="Log Masuk").click()
    expect(page.locator("#username")).to_be_visible()
    screenshot(page, "login-again")
    show_password_step(page, record.user_id)
    screenshot(page, "login-again-password-step")
    page.fill("#password", NEW_PASSWORD)
    page.click("#kc-login")

    expect(page).to_have_url(re.compile(rf"/{realm}/portal/dashboard$"))
    expect(page.locator("[data-field=user-id]")).to_have_text(record.user_id)
    expect(page.locator("[data-field=name]")).to_have_text(record.name)
    expect(page.locator("[data-field=department]")).to_have_text(record.department)
    screenshot(page, "portal-dashboard")
    assert errors == []


def test_the_login_page_shows_the_new_phrase_and_image_right_after_registering(
    sidecar, keycloak, mail_inbox, new_page, screenshot
):
    """The decoy shown while the account was pending must not outlive the registration."""
    _, record, _ = _new_pending_user(sidecar, "melaka", "first-login-e2e-site-key")
    phrase = "Kapal Layar di Selat Melaka"
    page = new_page()
    _register(page, sidecar, keycloak, mail_inbox, lambda *args: None, "melaka", "Pendaftaran",
              record, phrase)

    page.get_by_role("link", name="Log Masuk").click()
    show_password_step(page, record.user_id)
    screenshot(page, "login-again-site-key")

    expect(page.get_by_text(phrase, exact=True)).to_be_visible()
    expect(page.locator("img[alt='Burung enggang di atas dahan']")).to_be_visible()
