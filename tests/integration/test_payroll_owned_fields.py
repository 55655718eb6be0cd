"""Payroll owns the official email and the name; mail goes only inside the state's domains.

Against the real Keycloak: the user profile shows email, first and last name to the user
but lets only admins write them, so the account REST API (what the account console
posts) leaves them as they are; ``realms apply`` brings an older realm's profile up to
date once. Through the in-process sidecar and the real SMTP inbox: a user whose stored
email lies outside the state's domains (set by hand by an admin) asks for recovery,
sees the usual answer, and nothing is sent; the audit log says why.
"""

from __future__ import annotations

import json
import re

import pytest
import requests

from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.realms.apply import apply_realm
from idp_extension.realms.profile import USER_VISIBLE_ADMIN_EDIT
from tests.support.constants import OLD_PASSWORD
from tests.support.inprocess import Stack, same_shape
from tests.support.oidc_login import login

pytestmark = pytest.mark.integration

STATES = ["pahang", "kelantan", "selangor", "melaka"]
PAYROLL_FIELDS = ("email", "firstName", "lastName")
PASSWORD = OLD_PASSWORD
OUTSIDE = "peti.lain@example.com"
SENT = "emel untuk menetapkan semula kata laluan telah dihantar ke emel rasmi"
REFUSED = "mail:refused:outside_domain"
# What may differ between two answers: the form's CSRF token and the masked address.
VARYING = (re.compile(r'name="csrf_token" value="[^"]+"'),
           re.compile(r'class="masked-email">[^<]+<'))


@pytest.mark.parametrize("state", STATES)
def test_email_and_names_are_shown_to_users_and_written_by_admins_only(provisioned_realms,
                                                                        state):
    profile = bootstrap_admin(provisioned_realms, state).get_realm_users_profile()
    attributes = {a["name"]: a for a in profile["attributes"]}

    for name in PAYROLL_FIELDS + ("department",):
        assert attributes[name]["permissions"] == USER_VISIBLE_ADMIN_EDIT, name


def test_apply_brings_an_older_profile_up_to_date_once(provisioned_realms):
    kc = bootstrap_admin(provisioned_realms, "kelantan")
    profile = kc.get_realm_users_profile()
    for attribute in profile["attributes"]:
        if attribute["name"] in PAYROLL_FIELDS:  # as the previous template had them
            attribute["permissions"] = {"view": ["admin", "user"], "edit": ["admin", "user"]}
    kc.update_realm_users_profile(profile)

    first = apply_realm(provisioned_realms, "kelantan")
    second = apply_realm(provisioned_realms, "kelantan")

    assert {f"userProfile.attributes.{name}" for name in PAYROLL_FIELDS} <= {
        line.split(":")[0] for line in first.lines()}
    assert second.summary() == "no changes"
    attributes = {a["name"]: a for a in kc.get_realm_users_profile()["attributes"]}
    assert all(attributes[n]["permissions"] == USER_VISIBLE_ADMIN_EDIT for n in PAYROLL_FIELDS)


def _account_token(settings, realm: str, user_id: str, password: str) -> str:
    """Sign in as the account console does (its public client, code flow with PKCE)."""
    outcome = login(settings.keycloak_url, realm, user_id, password, client_id="account-console",
                    redirect_uri=f"{settings.keycloak_url}/realms/{realm}/account/")
    assert outcome.status == 302, outcome.error or outcome.body[:500]
    return outcome.tokens["access_token"]


def test_the_account_rest_api_cannot_change_email_or_names(stack):
    record, user = stack.active("pahang", "payroll-owned:account-api", PASSWORD)
    token = _account_token(stack.settings, "pahang", record.user_id, PASSWORD)
    account = f"{stack.settings.keycloak_url}/realms/pahang/account/"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    shown = requests.get(account, params={"userProfileMetadata": "true"}, headers=headers,
                         timeout=30)
    assert shown.status_code == 200, shown.text
    me = shown.json()
    assert (me["email"], me["firstName"]) == (record.email, record.name)
    metadata = {a["name"]: a for a in me["userProfileMetadata"]["attributes"]}
    assert all(metadata[name]["readOnly"] is True for name in PAYROLL_FIELDS)

    changes = [{"email": OUTSIDE}, {"firstName": "Nama Lain", "lastName": "Bukan Saya"},
               {"email": OUTSIDE, "firstName": "Nama Lain", "emailVerified": True}]
    answers = [requests.post(account, json={**me, **change}, headers=headers, timeout=30)
               for change in changes]

    # Keycloak 26.7.3 refuses a change of a read-only attribute (400, one error per field,
    # "error-user-attribute-read-only"); what counts most is what it stored.
    assert [a.status_code for a in answers] == [400, 400, 400], [a.text for a in answers]
    assert all("error-user-attribute-read-only" in a.text for a in answers)
    stored = stack.admin("pahang").get(user.id)
    assert stored.email == record.email and stored.name == record.name
    kc = bootstrap_admin(stack.settings, "pahang")
    assert kc.get_user(user.id).get("lastName") in (None, "")
    # Nor is there another way in: Keycloak's "update email" action stays off.
    actions = {a["alias"]: a for a in kc.get_required_actions()}
    assert actions["UPDATE_EMAIL"]["enabled"] is False


def test_admins_still_change_email_and_names(stack):
    record, user = stack.active("melaka", "payroll-owned:admin-writes", PASSWORD)
    kc = bootstrap_admin(stack.settings, "melaka")
    representation = kc.get_user(user.id)
    representation.update(email="alamat.baru@jkr.melaka.gov.my", firstName="Nama Baharu")
    kc.update_user(user.id, representation)

    stored = stack.admin("melaka").get(user.id)
    assert (stored.email, stored.name) == ("alamat.baru@jkr.melaka.gov.my", "Nama Baharu")


def _request_recovery(stack: Stack, realm: str, user_id: str):
    return stack.browser().submit(f"/{realm}/recovery", {"user_id": user_id})


def test_recovery_to_an_address_outside_the_domains_is_refused_and_audited(stack):
    outsider, user = stack.active("selangor", "payroll-owned:outside-mailbox", PASSWORD)
    insider, _ = stack.active("selangor", "payroll-owned:inside-mailbox", PASSWORD)
    # State IT (or anyone with admin rights) types a private mailbox in by hand.
    kc = bootstrap_admin(stack.settings, "selangor")
    representation = kc.get_user(user.id)
    representation["email"] = OUTSIDE
    kc.update_user(user.id, representation)
    assert stack.admin("selangor").get(user.id).email == OUTSIDE
    mark = stack.inbox.last_id

    refused = _request_recovery(stack, "selangor", outsider.user_id)
    # Sending runs behind the answer: its audit event says it is over, mail or not.
    stack.wait_for_event("account:recovery:requested", outsider.user_id)
    assert stack.nothing_sent_since(mark)
    sent = _request_recovery(stack, "selangor", insider.user_id)
    stack.wait_for_event("account:recovery:requested", insider.user_id)

    assert refused.status == sent.status == 200 and SENT in refused.text
    assert same_shape([refused.body, sent.body], *VARYING)
    assert [m.to for m in stack.messages_since(mark)] == [(insider.email,)]
    [event] = stack.events(REFUSED)
    assert event["realm"] == "selangor" and event["subject"] == outsider.user_id
    assert event["details"] == {"template": "recovery", "reason": "outside_domain"}
    assert "@" not in json.dumps(event)
    [requested] = [e for e in stack.events("account:recovery:requested")
                   if e["subject"] == outsider.user_id]
    assert requested["details"]["reason"] == "outside_domain"
