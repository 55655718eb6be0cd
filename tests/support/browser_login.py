"""Steps the e2e tests share in a Playwright page: the themed Keycloak login, asking for a link.

The iSPEKS theme shows Keycloak's single username-and-password form in two steps: the
ID and "Seterusnya" (``#ispeks-next``), then the password and "Login" (``#kc-login``).
"""

from __future__ import annotations


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
