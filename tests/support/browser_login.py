"""Sign in on the themed Keycloak login page in a Playwright page (e2e tests).

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
