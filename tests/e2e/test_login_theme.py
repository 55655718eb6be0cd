"""The state login themes in headless Chromium: identity-first login with the secret phrase
and image, decoys for unknown IDs, lockout and unlock, English, and both screen widths.

Every login starts where a civil servant does: the demo Portal iSPEKS of the session's
gunicorn sidecar, which sends the browser to the realm's Keycloak login page.
Screenshots: test-artifacts/themes/<state>-<page>-<width>.png.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from idp_extension.commands.users import users as users_command
from idp_extension.demo_users import synthetic_people
from idp_extension.flows.site_key import IMAGE_ATTRIBUTE, PHRASE_ATTRIBUTE
from idp_extension.gallery import image_by_id
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE, UserDirectory
from idp_extension.passwords import random_password
from idp_extension.tenants import load_tenants
from tests.e2e.conftest import DESKTOP, PHONE
from tests.support.browser_login import show_password_step, sign_in

STATES = ["pahang", "kelantan", "selangor", "melaka"]
PHRASE_STATES = {"selangor", "melaka"}
# Each state's user picks its own phrase and picture (all synthetic).
CHOICES = {
    "pahang": ("Helang di Bukit Tinggi", "hornbill"),
    "kelantan": ("Wau Bulan di Pantai Timur", "kite"),
    "selangor": ("Kapal Layar di Muara Biru", "boat"),
    "melaka": ("Bunga Raya di Taman Larangan", "hibiscus"),
}
UNKNOWN_ID = "860202045678"
WRONG = "Salah-Kata-Laluan-1"
REFUSAL = "ID Pengguna atau Kata Laluan tidak sah."


@dataclass(frozen=True)
class Account:
    state: str
    uuid: str
    user_id: str
    name: str
    password: str


@pytest.fixture(scope="module")
def tenants(settings):
    return load_tenants(settings.realm_templates_dir)


def _make_account(settings, tenants, state: str, seed: str) -> Account:
    directory = UserDirectory(bootstrap_admin(settings), state)
    record = synthetic_people(tenants[state], 1, seed=seed)[0]
    user, _ = directory.register_pending(record)
    password = random_password()
    directory.set_password(user.id, password)
    phrase, image = CHOICES[state]
    # Pahang and Kelantan do not use phrases: stored anyway, so that a test can see
    # that their login page never shows one.
    directory.update_attributes(user.id, {ACTIVATION_STATE: [ACTIVE], PHRASE_ATTRIBUTE: [phrase],
                                          IMAGE_ATTRIBUTE: [image]})
    return Account(state, user.id, user.user_id, record.name, password)


@pytest.fixture(scope="module")
def accounts(provisioned_realms, settings, tenants, sidecar):
    """One active user per state for logging in (and another per state for lockout)."""
    return {
        (state, purpose): _make_account(settings, tenants, state, f"e2e-{purpose}")
        for state in STATES for purpose in ("login", "lockout")
    }


def _open_login(new_page, sidecar, settings, state: str, viewport=DESKTOP, locale="ms-MY"):
    page = new_page(viewport=viewport, locale=locale)
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "/site-key" in r.url else None)
    page.goto(f"{sidecar.url}/{state}/portal/")
    assert page.url.startswith(f"{settings.keycloak_url}/realms/{state}/"), page.url
    page.wait_for_selector("#ispeks-next:visible")
    page.site_key_requests = asked  # type: ignore[attr-defined]
    return page


def _site_key(page) -> tuple[str, str, str]:
    """The phrase, picture file and alt text shown on step two (waits for the picture)."""
    page.wait_for_selector("#ispeks-site-key:visible")
    page.wait_for_function(
        "() => { const i = document.getElementById('ispeks-image');"
        " return i.complete && i.naturalWidth > 0 && !i.src.startsWith('data:'); }")
    image = page.locator("#ispeks-image")
    return (page.locator("#ispeks-phrase").inner_text(),
            image.get_attribute("src").rsplit("/", 1)[-1], image.get_attribute("alt"))


def _shot(page, artifacts_dir, state: str, name: str, viewport) -> None:
    folder = artifacts_dir / "themes"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{state}-{name}-{viewport['width']}.png"), full_page=True)


def _refusal(page) -> str:
    error = page.locator("#input-error-username")
    error.wait_for()
    described = page.locator("#username").get_attribute("aria-describedby") or ""
    assert "input-error-username" in described.split()
    assert page.locator("#username").get_attribute("aria-invalid") == "true"
    return error.inner_text().strip()


@pytest.mark.parametrize("state", STATES)
def test_active_user_logs_in_through_both_steps_and_reaches_the_portal(
        new_page, sidecar, settings, accounts, state):
    account = accounts[(state, "login")]
    page = _open_login(new_page, sidecar, settings, state)

    # Step one: the ID only.
    assert page.locator("#password").is_hidden() and page.locator("#kc-login").is_hidden()
    assert page.get_by_label("ID Pengguna").get_attribute("id") == "username"
    show_password_step(page, account.user_id)

    # Step two: the user's own phrase and picture above the password (phrase states).
    if state in PHRASE_STATES:
        phrase, image_id = CHOICES[state]
        image = image_by_id(image_id)
        assert _site_key(page) == (phrase, image.file, image.alt_ms)
        assert page.locator("#ispeks-site-key").bounding_box()["y"] < (
            page.locator("#password").bounding_box()["y"])
        # Screen readers hear the phrase and the picture with the password field.
        described = page.evaluate(
            "() => document.getElementById('password').getAttribute('aria-describedby')"
            ".split(' ').map(id => { const e = document.getElementById(id);"
            " return e.tagName === 'IMG' ? e.alt : e.textContent; }).join(' ')")
        assert phrase in described and image.alt_ms in described
    else:
        assert page.locator("#ispeks-site-key").count() == 0
        assert CHOICES[state][0] not in page.content()
        assert page.site_key_requests == []
    assert page.locator("#username").get_attribute("readonly") is not None
    assert page.locator("#ispeks-back").is_visible()
    assert page.evaluate("document.activeElement.id") == "password"
    page.fill("#password", account.password)
    page.click("#kc-login")

    page.wait_for_url(f"{sidecar.url}/{state}/portal/dashboard")
    assert page.locator('[data-field="user-id"]').inner_text() == account.user_id
    assert page.locator('[data-field="name"]').inner_text() == account.name


@pytest.mark.parametrize("state", STATES)
def test_unknown_id_reaches_step_two_with_the_same_decoy_every_time(
        new_page, sidecar, settings, accounts, state):
    seen = []
    for _ in range(2):  # two fresh browsers: nothing is remembered between them
        page = _open_login(new_page, sidecar, settings, state)
        show_password_step(page, UNKNOWN_ID)
        assert page.locator("#password").is_visible() and page.locator("#kc-login").is_visible()
        if state in PHRASE_STATES:
            seen.append(_site_key(page))
        else:
            # No phrase for anyone in these states: step two is the same for every ID.
            assert page.locator("#ispeks-site-key").count() == 0
            assert page.site_key_requests == []
            seen.append(page.locator("#ispeks-step-password").inner_text())
        page.context.close()

    assert seen[0] == seen[1]
    if state in PHRASE_STATES:
        phrase, file, alt = seen[0]
        assert phrase and phrase != CHOICES[state][0]
        assert file.endswith(".svg") and alt


@pytest.mark.parametrize("state", STATES)
def test_three_wrong_passwords_lock_until_the_unlock_command(
        new_page, sidecar, settings, accounts, state):
    account = accounts[(state, "lockout")]
    directory = UserDirectory(bootstrap_admin(settings), state)
    page = _open_login(new_page, sidecar, settings, state)

    # An unknown ID with a wrong password: the answer every stranger gets.
    show_password_step(page, UNKNOWN_ID)
    page.fill("#password", WRONG)
    page.click("#kc-login")
    unknown = _refusal(page)
    assert unknown == REFUSAL

    for attempt in range(3):
        show_password_step(page, account.user_id)
        page.fill("#password", WRONG)
        page.click("#kc-login")
        assert _refusal(page) == unknown, attempt
        assert page.locator("body").get_attribute("data-page-id") == "login-login"
    assert directory.get(account.uuid).permanently_locked

    # Locked: even the right password gets the very same answer.
    show_password_step(page, account.user_id)
    page.fill("#password", account.password)
    page.click("#kc-login")
    assert _refusal(page) == unknown

    result = CliRunner().invoke(users_command, ["unlock", "--state", state, account.user_id],
                                obj=settings)
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in settings.audit_log_path.read_text().splitlines()]
    assert any(e.get("event") == "account:unlocked" and e.get("subject") == account.user_id
               and e.get("realm") == state for e in events)

    sign_in(page, account.user_id, account.password)
    page.wait_for_url(f"{sidecar.url}/{state}/portal/dashboard")


@pytest.mark.parametrize("state", STATES)
def test_language_switch_shows_english(new_page, sidecar, settings, accounts, state, artifacts_dir):
    account = accounts[(state, "login")]
    page = _open_login(new_page, sidecar, settings, state)
    assert page.locator("html").get_attribute("lang") == "ms"

    page.click("#ispeks-locale-en")
    page.wait_for_selector("html[lang=en]")
    page.wait_for_selector("#ispeks-next:visible")

    assert page.locator("#kc-page-title").inner_text().strip() == "Log in"
    assert page.get_by_label("User ID").get_attribute("id") == "username"
    assert page.locator("#ispeks-next").inner_text().strip() == "Next"
    assert "Your account will be locked after 3 unsuccessful login attempts." in (
        page.locator("#ispeks-lockout-warning").inner_text())
    assert page.locator("#ispeks-locale-en").get_attribute("aria-current") == "true"
    show_password_step(page, account.user_id)
    assert page.locator("#ispeks-back").inner_text().strip() == "Back"
    if state in PHRASE_STATES:
        phrase, file, alt = _site_key(page)
        assert "Secret phrase" in page.locator("#ispeks-site-key").inner_text()
        assert alt == image_by_id(CHOICES[state][1]).alt_en
    _shot(page, artifacts_dir, state, "en-password", DESKTOP)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["360", "1280"])
@pytest.mark.parametrize("state", STATES)
def test_screenshots_of_each_page_fit_the_screen(
        new_page, sidecar, settings, accounts, artifacts_dir, state, viewport):
    account = accounts[(state, "login")]
    page = _open_login(new_page, sidecar, settings, state, viewport=viewport)

    def fits() -> None:
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{state} is {overflow}px too wide at {viewport['width']}px"

    fits()
    _shot(page, artifacts_dir, state, "1-id", viewport)

    # Keyboard: the focused field shows a visible outline.
    page.focus("#username")
    assert page.evaluate(
        "getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.click("#ispeks-next")  # empty ID: told next to the field, nothing fetched
    assert _refusal(page) == "Sila masukkan ID Pengguna."
    assert page.site_key_requests == []
    _shot(page, artifacts_dir, state, "2-id-missing", viewport)

    show_password_step(page, account.user_id)
    if state in PHRASE_STATES:
        _site_key(page)
    fits()
    _shot(page, artifacts_dir, state, "3-password", viewport)

    # "Kembali", then a refusal (an unknown ID: the user above keeps a clean record).
    page.click("#ispeks-back")
    assert page.locator("#password").is_hidden()
    assert page.evaluate("document.activeElement.id") == "username"
    show_password_step(page, UNKNOWN_ID)
    page.fill("#password", WRONG)
    page.click("#kc-login")
    assert _refusal(page) == REFUSAL
    fits()
    _shot(page, artifacts_dir, state, "4-refused", viewport)


@pytest.mark.parametrize("state", ["pahang", "selangor"])
def test_without_javascript_both_fields_show_at_once_and_login_works(
        browser, sidecar, settings, accounts, state):
    account = accounts[(state, "login")]
    context = browser.new_context(viewport=DESKTOP, locale="ms-MY", java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{sidecar.url}/{state}/portal/")

        assert page.locator("#username").is_visible() and page.locator("#password").is_visible()
        assert page.locator("#kc-login").is_visible() and page.locator("#ispeks-next").is_hidden()
        if state in PHRASE_STATES:
            assert "Aktifkan JavaScript" in page.locator("noscript").first.inner_text()
        page.fill("#username", account.user_id)
        page.fill("#password", account.password)
        page.click("#kc-login")
        page.wait_for_url(f"{sidecar.url}/{state}/portal/dashboard")
    finally:
        context.close()


def test_when_the_sidecar_cannot_answer_the_user_is_told_and_may_still_log_in(
        new_page, sidecar, settings, accounts, artifacts_dir):
    account = accounts[("selangor", "login")]
    page = _open_login(new_page, sidecar, settings, "selangor")
    page.route("**/site-key", lambda route: route.abort())

    show_password_step(page, account.user_id)

    assert page.locator("#ispeks-site-key-unavailable").is_visible()
    assert page.locator("#ispeks-site-key").is_hidden()
    _shot(page, artifacts_dir, "selangor", "site-key-unavailable", DESKTOP)
    page.fill("#password", account.password)
    page.click("#kc-login")
    page.wait_for_url(f"{sidecar.url}/selangor/portal/dashboard")
