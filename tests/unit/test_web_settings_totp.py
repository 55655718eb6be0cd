"""The settings' TOTP page (issue 12) over in-memory services and the fake Keycloak client."""

from __future__ import annotations

import pytest

from tests.unit.test_web_settings import Site, text


@pytest.fixture
def site(monkeypatch) -> Site:
    return Site(monkeypatch)


def test_an_approver_sees_totp_required_and_turning_it_off_is_refused(site):
    user = site.active()
    site.directory.set_otp(user.id, credentials=1)
    site.keycloak.tasks = ["ac:pelulus", "totp-wajib"]  # the ID token's claim
    site.sign_in(user)

    page = site.client.get(f"{site.base}/totp")
    assert page.status_code == 200 and "Status: Aktif" in text(page)
    assert 'id="totp-required"' in text(page) and 'id="totp-disable"' not in text(page)
    refused = site.client.post(f"{site.base}/totp/disable")

    assert refused.status_code == 409
    assert "tidak boleh dimatikan: tugas anda (Pelulus" in text(refused)
    assert site.directory.otp_credential_count(user.id) == 1 and not site.mail.sent


def test_turning_on_with_a_stale_login_logs_in_again_first(site):
    user = site.active()
    site.sign_in(user)
    site.clock.advance(400)

    answer = site.client.post(f"{site.base}/totp/enable")

    assert answer.status_code == 303 and "/settings/reauth?next=totp" in answer.headers["Location"]


def test_turning_on_goes_to_keycloaks_configure_totp_and_comes_back_to_the_page(site):
    user = site.active()
    site.sign_in(user)

    answer = site.client.post(f"{site.base}/totp/enable")
    assert answer.status_code == 302
    assert site.keycloak.started[-1] == {"prompt": None, "max_age": None,
                                         "action": "CONFIGURE_TOTP"}
    site.directory.set_otp(user.id, credentials=1)  # what Keycloak's page did
    site.keycloak.signs_in = (user, 0)
    back = site.client.get(f"{site.base}/callback?state=s{len(site.keycloak.started)}"
                           f"&code=c&kc_action_status=success")

    assert back.status_code == 303 and back.headers["Location"] == f"{site.base}/totp"
    page = text(site.client.get(f"{site.base}/totp"))
    assert "Pengesahan dua faktor (TOTP) telah diaktifkan" in page and "Status: Aktif" in page
    assert [e["event"] for e in site.audit.entries if "totp" in e["event"]] == [
        "account:totp:enabled"]


def test_a_cancelled_enrolment_says_nothing_and_changes_nothing(site):
    user = site.active()
    site.sign_in(user)
    site.client.post(f"{site.base}/totp/enable")
    site.keycloak.signs_in = (user, 0)

    back = site.client.get(f"{site.base}/callback?state=s{len(site.keycloak.started)}"
                           f"&code=c&kc_action_status=cancelled")

    assert back.status_code == 303
    page = text(site.client.get(f"{site.base}/totp"))
    assert "Status: Tidak aktif" in page and "telah diaktifkan" not in page
    assert not site.mail.sent
