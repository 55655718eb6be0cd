"""Steps the e2e tests share in a Playwright page: the themed Keycloak login, an officer's
first sign-in with TOTP enrolment, asking for a link by email, choosing a password.

The iSPEKS theme shows Keycloak's single username-and-password form in two steps: the
ID and "Seterusnya" (``#ispeks-next``), then the password and "Login" (``#kc-login``).
"""

from __future__ import annotations

import re
import warnings

from tests.support.totp_login import authenticator, next_unused_code


def show_password_step(page, user_id: str) -> None:
    """Type the ID and go to step two (the password; the phrase and image if any)."""
    page.fill("#username", user_id)
    next_button = page.locator("#ispeks-next")
    if next_button.count() and next_button.is_visible():
        next_button.click()
    page.wait_for_selector("#password:visible")


def sign_in(page, user_id: str, password: str) -> None:
    """Both steps, then submit (the caller waits for wherever Keycloak sends the browser)."""
    show_password_step(page, user_id)
    page.fill("#password", password)
    page.click("#kc-login")


def enrol_totp(page, label: str):
    """On Keycloak's enrolment page (``#kc-totp-settings-form``): add an authenticator app
    (pyotp) from the key the page shows in text and save it. Returns the app and the set
    of codes used so far (Keycloak refuses a code twice)."""
    key = re.sub(r"\s+", "", page.locator("#kc-totp-secret-key").inner_text())
    app, used = authenticator(key), set()
    page.fill("#totp", next_unused_code(app, used))
    page.fill("#userLabel", label)
    page.click("#saveTOTPBtn")
    return app, used


def sign_in_to_console(page, user_id: str, password: str, opened: str,
                       screenshot=lambda page, step: None):
    """An officer whose task requires TOTP signs in to the helpdesk console (or its report)
    for the first time, from Keycloak's login page: password, enrolment of an app, then
    (enrolling is not Keycloak's OTP form, so no "otp" in amr) the console's one login
    again with a code (prompt=login). Waits until ``opened`` (a selector of the console
    page) shows; returns the app and its used codes."""
    sign_in(page, user_id, password)
    page.wait_for_selector("#kc-totp-settings-form")
    screenshot(page, "enrol-totp")
    app, used = enrol_totp(page, "Telefon meja bantuan")
    page.wait_for_selector(f"#kc-form-login, {opened}")
    if page.locator("#kc-form-login").count():
        screenshot(page, "login-again-with-code")
        if page.locator("#username").count():
            sign_in(page, user_id, password)
        else:  # prompt=login inside the session: Keycloak knows who, asks the password
            page.fill("#password", password)
            page.click("#kc-login")
        page.wait_for_selector("#kc-otp-login-form")
        page.fill("#otp", next_unused_code(app, used))
        page.click("#kc-login")
    page.wait_for_selector(opened)
    return app, used


def script_errors(page) -> list[str]:
    """The list that collects the page's uncaught script errors from now on."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def open_login_page(page, sidecar_url: str, keycloak_url: str, realm: str) -> None:
    """Open the realm's login page as a user arrives there: through the demo portal."""
    from playwright.sync_api import expect

    page.goto(f"{sidecar_url}/{realm}/portal/")
    expect(page.locator("#username")).to_be_visible()
    assert page.url.startswith(f"{keycloak_url}/realms/{realm}/")


def ask_for_a_link(page, record, confirmation: str) -> None:
    """Type the ID on the activation or recovery page and send it; the confirmation shows
    and names no address, not even a masked one."""
    from playwright.sync_api import expect

    page.get_by_label("Sila nyatakan ID Pengguna akaun anda").fill(record.user_id)
    page.get_by_role("button", name="Hantar").click()
    expect(page.get_by_text(confirmation, exact=False)).to_be_visible()
    assert record.email.split("@")[0] not in page.content() and "*****" not in page.content()


def link_by_mail(page, mail_inbox, record, confirmation: str, link: re.Pattern):
    """Ask for a link on the activation or recovery page shown (``ask_for_a_link``), wait
    for the email it sends to ``record``; return the email and the link it carries."""
    mark = mail_inbox.last_id
    ask_for_a_link(page, record, confirmation)
    email = mail_inbox.wait_for(to=record.email, after=mark, timeout=15)
    return email, link.search(email.text).group(0)


def follow_from_login(page, selector: str, fallback_url: str) -> None:
    """Follow the login page's link ``selector`` (activation, recovery), or, if the theme
    does not show it, warn and open ``fallback_url`` directly."""
    link = page.locator(selector)
    if link.count() and link.first.is_visible():
        link.first.click()
    else:
        warnings.warn(f"the login page shows no {selector}: opening {fallback_url} directly")
        page.goto(fallback_url)


def choose_password(page, password: str, label: str, repeat_label: str) -> None:
    """Type a password that meets every rule in the field ``label`` and again in
    ``repeat_label``: the live checklist shows all five rules met, and "Tunjuk Kata
    Laluan" turns the field into plain text."""
    from playwright.sync_api import expect

    field = page.get_by_label(label, exact=True)
    field.fill(password)
    page.get_by_label(repeat_label).fill(password)
    expect(page.locator(".rule-met")).to_have_count(5)
    page.get_by_label("Tunjuk Kata Laluan").check()
    expect(field).to_have_attribute("type", "text")
