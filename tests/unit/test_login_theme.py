"""The login and email themes: files per state, messages in both languages, and the realm
values the templates read (rendered from realm-templates/, never copied into themes/)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from idp_extension.realms.render import render_realm
from idp_extension.settings import PROJECT_ROOT, Settings
from idp_extension.tenants import list_states, load_values

THEMES = PROJECT_ROOT / "themes"
TEMPLATES = PROJECT_ROOT / "realm-templates"
BASE = THEMES / "ispeks" / "login"
STATES = list_states(TEMPLATES)
STATE_VARIABLES = ("--ispeks-primary", "--ispeks-primary-dark", "--ispeks-on-primary",
                   "--ispeks-accent", "--ispeks-accent-strong", "--ispeks-link")
# Keys the templates use from Keycloak's own bundles (present in every locale it ships
# with; Malay falls back to English for these rarely shown ones).
KEYCLOAK_KEYS = {"requiredFields", "doTryAnotherWay", "doSwitchOrganization", "email",
                 "restartLoginTooltip"}


def read_properties(path: Path) -> dict[str, str]:
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            entries[key.strip()] = value.strip()
    return entries


def ftl_message_keys(*files: Path) -> set[str]:
    keys = set()
    for file in files:
        keys |= set(re.findall(r"""msg\(\s*["']([A-Za-z0-9_.-]+)["']""", file.read_text()))
    return keys


def ftl_realm_attributes(*files: Path) -> set[str]:
    found = set()
    for file in files:
        found |= set(re.findall(r'ispeks\["(ispeks\.[A-Za-z]+)"\]', file.read_text()))
    return found


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(sidecar_public_url="https://sidecar.ispeks.example.gov.my/id")


@pytest.mark.parametrize("state", STATES)
def test_every_state_has_a_theme_extending_the_base_with_colours_and_logo(state):
    folder = THEMES / f"ispeks-{state}" / "login"
    properties = read_properties(folder / "theme.properties")
    css = (folder / "resources" / "css" / "state.css").read_text()
    logo = ET.parse(folder / "resources" / "img" / "logo.svg").getroot()

    assert properties["parent"] == "ispeks" and properties["locales"] == "ms,en"
    assert all(re.search(rf"{var}:\s*#[0-9a-f]{{6}};", css) for var in STATE_VARIABLES), state
    assert logo.tag == "{http://www.w3.org/2000/svg}svg"
    assert not re.search(r"href=|<image|<script", (folder / "resources/img/logo.svg").read_text())


def test_state_colours_differ():
    primaries = {
        re.search(r"--ispeks-primary:\s*(#[0-9a-f]{6})", (
            THEMES / f"ispeks-{state}" / "login/resources/css/state.css").read_text()).group(1)
        for state in STATES}
    assert len(primaries) == len(STATES)


def test_base_theme_extends_keycloak_v2_malay_first():
    properties = read_properties(BASE / "theme.properties")

    assert properties["parent"] == "keycloak.v2"
    assert properties["locales"].split(",")[0] == "ms"
    assert set(properties["styles"].split()) == {"css/ispeks.css", "css/state.css"}
    # Only the pages that must change are overridden.
    assert sorted(p.name for p in BASE.glob("*.ftl")) == [
        "login-config-totp.ftl", "login-otp.ftl", "login.ftl", "template.ftl"]


@pytest.mark.parametrize("folder", ["ispeks/login", "ispeks/email"])
def test_malay_and_english_messages_have_the_same_keys(folder):
    ms = read_properties(THEMES / folder / "messages" / "messages_ms.properties")
    en = read_properties(THEMES / folder / "messages" / "messages_en.properties")

    # Every English text has its Malay one; Malay may also translate Keycloak's own
    # page texts, which English already has from Keycloak.
    assert set(en) <= set(ms)
    assert {k for k in ms if k.startswith("ispeks")} == {k for k in en if k.startswith("ispeks")}
    if folder.endswith("email"):
        assert {"executeActionsSubject", "executeActionsBody", "executeActionsBodyHtml",
                "emailTestSubject", "eventUserDisabledByPermanentLockoutSubject"} <= set(ms)


def test_every_message_the_templates_use_exists_in_both_languages():
    used = ftl_message_keys(BASE / "login.ftl", BASE / "template.ftl", BASE / "login-otp.ftl",
                            BASE / "login-config-totp.ftl")
    ms = read_properties(BASE / "messages" / "messages_ms.properties")
    en = read_properties(BASE / "messages" / "messages_en.properties")

    assert "ispeksLockoutWarning" in used and "doNext" in used
    assert {"ispeksOtpIntro", "ispeksTotpKeyLabel", "loginTotpTitle"} <= used
    missing = {k for k in used - KEYCLOAK_KEYS if k not in ms or k not in en}
    assert not missing


def test_the_manuals_wording_is_kept():
    ms = read_properties(BASE / "messages" / "messages_ms.properties")
    melaka = read_properties(THEMES / "ispeks-melaka/login/messages/messages_ms.properties")

    assert ms["ispeksLockoutWarning"].replace("{0}", "3") == (
        "Akaun anda akan disekat sekiranya percubaan log masuk melebihi 3 kali. "
        "Sila hubungi Pentadbir Sistem.")
    assert " ".join([ms["ispeksActivationResendBefore"], ms["ispeksActivationResendLink"],
                     ms["ispeksActivationResendAfter"]]) == (
        "Sekiranya anda telah membuat pendaftaran dan tidak menerima emel pengaktifan sila "
        "klik di sini untuk penghantaran semula emel pengaktifan.")
    assert (ms["username"], ms["doNext"], ms["password"], ms["doBack"], ms["doLogIn"]) == (
        "ID Pengguna", "Seterusnya", "Kata Laluan", "Kembali", "Login")
    assert (ms["ispeksSecretPhrase"], ms["ispeksOnlineImage"]) == ("Frasa Rahsia", "Imej Online")
    assert ms["ispeksFirstLogin"] == "Login Kali Pertama" and melaka["ispeksFirstLogin"] == "Pendaftaran"
    assert ms["ispeksSystemName"] == "Sistem Perakaunan Akruan Kerajaan Negeri (iSPEKS)"


def test_refusals_are_worded_alike_whatever_keycloak_knows():
    for locale in ("ms", "en"):
        messages = read_properties(BASE / "messages" / f"messages_{locale}.properties")
        texts = {messages[k] for k in ("invalidUserMessage", "invalidPasswordMessage",
                                       "accountDisabledMessage",
                                       "accountTemporarilyDisabledMessage",
                                       "accountPermanentlyDisabledMessage")}
        assert len(texts) == 1, locale


def test_no_lone_apostrophes_that_messageformat_would_swallow():
    for path in THEMES.glob("*/*/messages/*.properties"):
        for key, value in read_properties(path).items():
            assert not re.search(r"(?<!')'(?!')", value), f"{path.name}: {key}"


@pytest.mark.parametrize("state", STATES)
def test_realm_carries_every_value_the_templates_read(settings, state):
    """Values reach the theme as realm attributes rendered from the values file."""
    realm = render_realm(settings, state, TEMPLATES)
    values = load_values(TEMPLATES, state)
    attributes = realm["attributes"]
    read = ftl_realm_attributes(BASE / "login.ftl", BASE / "template.ftl")

    assert read >= {"ispeks.stateName", "ispeks.versionLabel", "ispeks.helpdesk",
                    "ispeks.onboarding", "ispeks.secretPhraseAndImage", "ispeks.sidecarUrl",
                    "ispeks.failureFactor", "ispeks.product"}
    assert read <= set(attributes), read - set(attributes)
    assert attributes["ispeks.versionLabel"] == values["version_label"]
    assert attributes["ispeks.sidecarUrl"] == "https://sidecar.ispeks.example.gov.my/id"
    assert attributes["ispeks.failureFactor"] == str(values["brute_force"]["failure_factor"])
    assert attributes["ispeks.secretPhraseAndImage"] == (
        "true" if values.get("secret_phrase_and_image") else "false")


@pytest.mark.parametrize("state", STATES)
def test_login_pages_may_reach_the_sidecar_origin_and_nothing_else_off_site(settings, state):
    headers = render_realm(settings, state, TEMPLATES)["browserSecurityHeaders"]
    csp = dict(d.strip().split(" ", 1) for d in headers["contentSecurityPolicy"].split(";")
               if d.strip())

    assert csp["connect-src"] == "'self' https://sidecar.ispeks.example.gov.my"
    assert csp["img-src"] == "'self' data: https://sidecar.ispeks.example.gov.my"
    assert csp["frame-ancestors"] == "'self'" and csp["object-src"] == "'none'"
    assert headers["xFrameOptions"] == "SAMEORIGIN"
    assert headers["xContentTypeOptions"] == "nosniff"
    assert headers["strictTransportSecurity"].startswith("max-age=31536000")


def test_login_page_keeps_one_form_with_both_inputs_and_their_autocomplete():
    login = (BASE / "login.ftl").read_text()

    assert "auth-username-form" not in login
    assert login.count('<form id="kc-form-login"') == 1
    assert 'name="username"' in login and 'name="password"' in login
    assert 'autocomplete="current-password"' in login and "'username'" in login
    # Labels bound to their fields; errors tied to the field they are about.
    assert '<label for="username"' in login and '<label for="password"' in login
    assert 'id="input-error-username"' in login and "input-error-username" in login.split(
        'id="username"')[1].split("/>")[0]
