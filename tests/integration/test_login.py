"""Sign-in through the real Keycloak: tokens by code flow + PKCE, 3-strike lockout,
and the same answer for every kind of ID with a wrong password."""

from __future__ import annotations

import pytest

from idp_extension.demo_seed import seed_realm
from idp_extension.demo_users import synthetic_people
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE, UserDirectory
from idp_extension.passwords import random_password
from idp_extension.tenants import load_tenants
from tests.support.lockout import wait_for_failures, wait_until_locked
from tests.support.oidc_login import decode_jwt_claims, login

STATES = ["pahang", "kelantan", "selangor", "melaka"]


@pytest.fixture(scope="module")
def tenants(settings):
    return load_tenants(settings.realm_templates_dir)


@pytest.fixture(scope="module")
def demo_accounts(provisioned_realms, settings, tenants, tmp_path_factory):
    """The dev command's demo users, seeded into every realm."""
    passwords = tmp_path_factory.mktemp("demo") / "passwords.json"
    return {
        state: seed_realm(UserDirectory(bootstrap_admin(settings), state), tenants[state],
                          passwords, pending=2)
        for state in STATES
    }


def _active_user(settings, tenants, state: str, seed: str):
    """A fresh active user of its own, so lockout tests do not disturb other tests."""
    directory = UserDirectory(bootstrap_admin(settings), state)
    record = synthetic_people(tenants[state], 1, seed=seed)[0]
    user, _ = directory.register_pending(record)
    password = random_password()
    directory.set_password(user.id, password)
    directory.update_attributes(user.id, {ACTIVATION_STATE: [ACTIVE]})
    return directory, user, password


@pytest.mark.parametrize("state", STATES)
def test_active_demo_user_gets_tokens_by_code_flow_with_pkce(settings, demo_accounts, state):
    active = next(a for a in demo_accounts[state] if a.password)

    outcome = login(settings.keycloak_url, state, active.user_id, active.password)

    assert outcome.status == 302, outcome.error
    claims = decode_jwt_claims(outcome.tokens["access_token"])
    assert claims["iss"] == f"{settings.keycloak_url}/realms/{state}"
    assert claims["preferred_username"] == active.user_id
    assert claims["name"] == active.name
    # Admin-only attributes must never leak into tokens.
    assert not any(key.startswith("ispeks_") for key in claims)


def test_code_flow_without_pkce_is_refused(settings, demo_accounts):
    import requests

    answer = requests.get(
        f"{settings.keycloak_url}/realms/pahang/protocol/openid-connect/auth",
        params={"client_id": "portal-ispeks", "response_type": "code", "scope": "openid",
                "redirect_uri": "http://127.0.0.1:18765/callback"},
        allow_redirects=False, timeout=10,
    )
    # Keycloak sends the error back to the (registered) redirect URI.
    assert answer.status_code == 302
    assert "error=invalid_request" in answer.headers["Location"]
    assert "code_challenge" in answer.headers["Location"]


def test_two_failures_do_not_lock_but_three_do_until_an_admin_unlocks(settings, tenants):
    directory, user, password = _active_user(settings, tenants, "melaka", "lockout")
    kc = settings.keycloak_url

    for _ in range(2):
        assert login(kc, "melaka", user.user_id, "Salah-Kata-Laluan1").status == 200
    wait_for_failures(directory, user.id, 2)
    assert login(kc, "melaka", user.user_id, password).status == 302, "2 strikes must not lock"

    for _ in range(3):
        assert login(kc, "melaka", user.user_id, "Salah-Kata-Laluan1").status == 200
    wait_until_locked(directory, user.id)
    assert login(kc, "melaka", user.user_id, password).status == 200, "3 strikes must lock"

    unlocked = directory.unlock(user.id)

    assert unlocked.enabled and not unlocked.permanently_locked
    assert login(kc, "melaka", user.user_id, password).status == 302


def test_wrong_password_gets_one_answer_for_unknown_pending_locked_disabled_and_active(
    settings, tenants, demo_accounts
):
    state, kc = "kelantan", settings.keycloak_url
    directory = UserDirectory(bootstrap_admin(settings), state)
    pending = next(a for a in demo_accounts[state] if not a.password)
    _, active, _ = _active_user(settings, tenants, state, "enumeration-active")
    _, locked, _ = _active_user(settings, tenants, state, "enumeration-locked")
    # Only the answer to a locked account matters here (the strike count is tested
    # above), so keep failing until Keycloak has recorded the lock.
    for _ in range(6):
        login(kc, state, locked.user_id, "Salah-Kata-Laluan1")
        if directory.get(locked.id).permanently_locked:
            break
    wait_until_locked(directory, locked.id)
    _, disabled, _ = _active_user(settings, tenants, state, "enumeration-disabled")
    directory.set_enabled(disabled.id, False)

    ids = {
        "unknown": "850101035555",
        "pending": pending.user_id,
        "locked": locked.user_id,
        "disabled": disabled.user_id,
        "active": active.user_id,
    }
    answers = {kind: login(kc, state, user_id, "Salah-Kata-Laluan1") for kind, user_id in ids.items()}

    shapes = {kind: (a.status, a.error, a.page_id) for kind, a in answers.items()}
    assert len(set(shapes.values())) == 1, shapes
    status, message, _ = shapes["unknown"]
    assert status == 200
    assert message  # the themed "ID Pengguna atau kata laluan tidak sah."
