"""Keycloak's account console in headless Chromium: payroll's email and name are read-only.

The user signs in on the themed login page of the account console (Keycloak's own
client) and opens "Personal info": the email, first and last name are shown and cannot
be edited. Screenshot: test-artifacts/<test name>/.
"""

from __future__ import annotations

import pytest

from idp_extension.demo_users import synthetic_people
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE, UserDirectory
from idp_extension.passwords import random_password
from idp_extension.tenants import load_tenant
from tests.support.browser_login import sign_in

FIELDS = ("email", "firstName", "lastName")


@pytest.fixture
def account(provisioned_realms):
    """An activated pahang user with a known password."""
    tenant = load_tenant(provisioned_realms.realm_templates_dir, "pahang")
    record = synthetic_people(tenant, 1, seed="e2e-account-console")[0]
    directory = UserDirectory(bootstrap_admin(provisioned_realms), "pahang")
    user, _ = directory.register_pending(record)
    password = random_password()
    directory.set_password(user.id, password)
    directory.update_attributes(user.id, {ACTIVATION_STATE: [ACTIVE]})
    yield record, password
    bootstrap_admin(provisioned_realms, "pahang").delete_user(user.id)


def test_personal_info_shows_email_and_names_read_only(page, provisioned_realms, account,
                                                       screenshot):
    record, password = account
    console = f"{provisioned_realms.keycloak_url}/realms/pahang/account/"
    page.goto(console)
    # The console's script sends the browser on to the themed login page.
    page.wait_for_selector("#ispeks-next:visible")
    sign_in(page, record.user_id, password)
    page.wait_for_url(f"{console}**")
    email = page.locator("input#email")
    email.wait_for()
    page.wait_for_function("() => document.getElementById('email').value !== ''")
    screenshot(page, "personal-info")

    assert email.input_value() == record.email
    assert page.locator("input#firstName").input_value() == record.name
    for field in FIELDS:
        assert not page.locator(f"input#{field}").is_editable(), field
