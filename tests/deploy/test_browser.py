"""Chromium through the TLS proxy: the demo Portal iSPEKS under /idp sends a Selangor
civil servant to Keycloak's themed login, which shows the phrase and picture fetched from
the sidecar through the same proxy, and the login returns to the portal."""

from __future__ import annotations

import pytest
from idp_extension.flows.site_key import IMAGE_ATTRIBUTE, PHRASE_ATTRIBUTE
from tests.deploy.support import PASSWORD, Production
from tests.support.browser_login import show_password_step

# The session's topology starts within the first test's time: PostgreSQL, a Keycloak
# build and two nodes take minutes on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(900)

PHRASE, IMAGE = "Kapal Layar di Muara Biru", "boat"


@pytest.fixture
def page(browser):
    # The harness's certificate is self-signed: a real host has a real one.
    context = browser.new_context(ignore_https_errors=True, locale="ms-MY")
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def test_a_selangor_user_signs_in_to_the_portal_through_the_proxy(production: Production,
                                                                 page, artifacts_dir):
    [record] = production.active_users("selangor", "deploy:browser", 1)
    directory = production.directory("selangor")
    user = directory.find(record.user_id)
    directory.update_attributes(user.id, {PHRASE_ATTRIBUTE: [PHRASE], IMAGE_ATTRIBUTE: [IMAGE]})

    page.goto(f"{production.url}/idp/selangor/portal/")
    assert page.url.startswith(f"{production.url}/realms/selangor/"), page.url
    show_password_step(page, record.user_id)
    page.wait_for_selector("#ispeks-site-key:visible")
    assert page.locator("#ispeks-phrase").inner_text() == PHRASE
    page.fill("#password", PASSWORD)
    page.click("#kc-login")
    page.wait_for_url(f"{production.url}/idp/selangor/portal/dashboard")
    page.screenshot(path=str(artifacts_dir / "deploy-portal-dashboard.png"), full_page=True)
    assert page.locator('[data-field="user-id"]').inner_text() == record.user_id
