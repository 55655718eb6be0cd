"""The four manuals' flows in Chromium through the TLS proxy, on the production topology.

The journeys are the e2e tests' own (tests/e2e), run as they are with the proxy's
public address in place of the dev stack's: the sidecar is ``https://.../idp``, Keycloak
is the same origin, the inbox is the topology's SMTP relay. One state per flow, each
covering what the others do not:

* activation by emailed link (Pahang, desktop): manuals 000-002, to the portal;
* first login with the temporary password, phrase and picture (Selangor, phone):
  manual 003, to the portal after signing in with the new password;
* recovery (Melaka, phone): the emailed link, two questions, the new password, signing
  in again with the phrase and picture shown on the login page (fetched from the
  sidecar through the proxy), the portal, and another browser's session ended.

The journey's last pages are saved under test-artifacts/deploy-<flow>/.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.deploy.support import Production
from tests.e2e import test_activation_e2e as activation
from tests.e2e import test_first_login_e2e as first_login
from tests.e2e import test_recovery_e2e as recovery
from tests.e2e.conftest import DESKTOP, PHONE

# The session's topology starts within the first test's time: PostgreSQL, a Keycloak
# build and two nodes take minutes on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def new_page(browser):
    """Pages in fresh contexts, as tests/e2e's fixture makes them, over HTTPS."""
    contexts = []

    def make(viewport=DESKTOP, locale="ms-MY"):
        # The harness's certificate is self-signed: a real host has a real one.
        context = browser.new_context(viewport=viewport, locale=locale, ignore_https_errors=True)
        context.set_default_timeout(30_000)  # every page crosses the proxy on a busy machine
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


# The e2e runs keep every page; here only the journey's end (full-page screenshots
# cost seconds each on a busy machine, and tests/deploy has a time budget).
KEPT_STEPS = {"portal-dashboard", "recovered", "registration-done", "activated"}


@pytest.fixture
def screenshot(artifacts_dir, request):
    folder = artifacts_dir / f"deploy-{request.node.callspec.id}"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.png"):
        stale.unlink()

    def take(page, step: str):
        if step in KEPT_STEPS:
            page.screenshot(path=str(folder / f"{step}.png"), full_page=True)

    return take


def _as_dev_stack(production: Production):
    """The e2e journeys' ``sidecar`` and ``keycloak``: URLs and settings, through the proxy."""
    sidecar = SimpleNamespace(url=f"{production.url}/idp", settings=production.settings)
    keycloak = SimpleNamespace(url=production.url)
    return sidecar, keycloak


@pytest.mark.parametrize("flow", ["activation-pahang", "first-login-selangor", "recovery-melaka"])
def test_a_manuals_flow_through_the_proxy(production: Production, new_page, screenshot, flow):
    sidecar, keycloak = _as_dev_stack(production)
    common = dict(sidecar=sidecar, keycloak=keycloak, mail_inbox=production.inbox,
                  new_page=new_page, screenshot=screenshot)
    if flow == "activation-pahang":
        activation.test_a_new_user_activates_from_the_login_page_to_the_first_login(
            **common, realm="pahang", viewport=DESKTOP)
    elif flow == "first-login-selangor":
        first_login.test_a_new_user_registers_from_the_login_page_to_the_dashboard(
            **common, realm="selangor", name="Login Kali Pertama", viewport=PHONE)
    else:
        recovery.test_a_user_recovers_the_password_from_the_login_page_to_the_portal(
            **common, realm="melaka", viewport=PHONE)
