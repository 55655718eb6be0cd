"""Security settings in headless Chromium: change the secret phrase and image, then see them
on the login page; "Log Keluar" ends the Keycloak session.

Real everything: Keycloak's themed, identity-first login page, the sidecar under gunicorn,
SMTP into the session's inbox. Pages are saved under test-artifacts/<test>/.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from idp_extension.flows.answers import ANSWERS_ATTRIBUTE, hash_answers
from idp_extension.flows.first_login import IMAGE_ATTRIBUTE, PHRASE_ATTRIBUTE
from idp_extension.gallery import image_by_id
from idp_extension.gateway.connection import bootstrap_admin
from tests.e2e.conftest import DESKTOP
from tests.support.accounts import active_account
from tests.support.browser_login import show_password_step, sign_in
from tests.support.constants import FAST_HASHER

PASSWORD = "Lama#Kata-Laluan1"
OLD = ("Pelangi di Bukit Hijau", "hibiscus")
NEW = ("Perahu di Muara Sungai Melaka", "boat")


def test_a_user_changes_the_secret_phrase_then_sees_it_on_the_login_page(
        sidecar, keycloak, mail_inbox, new_page, screenshot):
    settings = sidecar.settings
    realm = "melaka"
    account = active_account(settings, realm, "settings-e2e-phrase", PASSWORD, {
        ANSWERS_ATTRIBUTE: [hash_answers([("mother_name", "Siti Aishah"), ("first_car", "Kancil"),
                                          ("favourite_colour", "Hijau")], FAST_HASHER)],
        PHRASE_ATTRIBUTE: [OLD[0]], IMAGE_ATTRIBUTE: [OLD[1]]})
    record, user = account.record, account.user
    page = new_page(viewport=DESKTOP)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # "Tetapan Akaun": Keycloak's login first (the old phrase on step two), then the details.
    page.goto(f"{sidecar.url}/{realm}/settings/")
    assert page.url.startswith(f"{keycloak.url}/realms/{realm}/")
    show_password_step(page, record.user_id)
    expect(page.locator("#ispeks-phrase")).to_have_text(OLD[0])
    screenshot(page, "login-old-phrase")
    page.fill("#password", PASSWORD)
    page.click("#kc-login")
    expect(page).to_have_url(f"{sidecar.url}/{realm}/settings/")
    main = page.locator("main")
    for words in (record.user_id, record.name, record.email, record.department, OLD[0]):
        expect(main).to_contain_text(words)
    screenshot(page, "settings-details")

    # "Frasa Rahsia dan Imej Online": a new phrase and picture.
    page.get_by_role("link", name="Frasa Rahsia dan Imej Online").click()
    expect(page).to_have_url(f"{sidecar.url}/{realm}/settings/secret-phrase")
    expect(page.get_by_label("Frasa Rahsia")).to_have_value(OLD[0])
    screenshot(page, "site-key-form")
    mark = mail_inbox.last_id
    page.get_by_label("Frasa Rahsia").fill(NEW[0])
    page.locator(f"label[for=image-{NEW[1]}]").click()
    expect(page.locator(f"#image-{NEW[1]}")).to_be_checked()
    screenshot(page, "site-key-chosen")
    page.get_by_role("button", name="Simpan").click()
    expect(page.locator("#settings-notice")).to_contain_text(
        "Frasa Rahsia dan Imej Online anda telah berjaya ditukar.")
    expect(page.locator("[data-field=phrase]")).to_have_text(NEW[0])
    screenshot(page, "site-key-changed")
    notice = mail_inbox.wait_for(to=record.email, after=mark, timeout=15)
    assert "Frasa Rahsia dan Imej iSPEKS Telah Ditukar" in notice.subject

    # "Log Keluar": the sidecar and Keycloak both forget the sign-in.
    page.get_by_role("button", name="Log Keluar").click()
    expect(page).to_have_url(f"{sidecar.url}/{realm}/settings/signed-out")
    expect(page.get_by_text("Anda telah log keluar")).to_be_visible()
    screenshot(page, "signed-out")
    assert bootstrap_admin(settings, realm).get_sessions(user.id) == []

    # The login page now shows the new phrase and picture after "Seterusnya".
    page.goto(f"{sidecar.url}/{realm}/portal/")
    expect(page.locator("#username")).to_be_visible()  # no SSO session left
    show_password_step(page, record.user_id)
    expect(page.locator("#ispeks-phrase")).to_have_text(NEW[0])
    image = page.locator("#ispeks-image")
    expect(image).to_have_attribute("src", re.compile(re.escape(image_by_id(NEW[1]).file) + "$"))
    expect(image).to_have_attribute("alt", image_by_id(NEW[1]).alt_ms)
    screenshot(page, "login-new-phrase")
    page.fill("#password", PASSWORD)
    page.click("#kc-login")
    expect(page).to_have_url(re.compile(rf"/{realm}/portal/dashboard$"))
    assert errors == []


def test_changing_the_password_needs_a_login_of_the_last_five_minutes(
        sidecar, keycloak, new_page, screenshot):
    """The password page asks no old password: the fresh Keycloak login is the proof."""
    realm = "pahang"
    record = active_account(sidecar.settings, realm, "settings-e2e-password", PASSWORD).record
    page = new_page(viewport=DESKTOP)

    page.goto(f"{sidecar.url}/{realm}/settings/password")
    sign_in(page, record.user_id, PASSWORD)
    expect(page).to_have_url(f"{sidecar.url}/{realm}/settings/password")
    expect(page.locator("#password-proof")).to_contain_text("telah disahkan di halaman log masuk")
    assert page.locator("input[name=old_password]").count() == 0
    new_password = "Baru#Kata-Laluan22"
    page.get_by_label("Kata Laluan Baru", exact=True).fill(new_password)
    page.get_by_label("Sah Kata Laluan Baru").fill(new_password)
    screenshot(page, "change-password")
    page.get_by_role("button", name="Simpan").click()
    expect(page.locator("#settings-notice")).to_contain_text("Kata laluan anda telah berjaya ditukar.")
    screenshot(page, "password-changed")
