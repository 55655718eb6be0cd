"""The TOTP notification emails (issue 12): every change in Malay and English."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from idp_extension.flows.notifications import CHANGES, notify
from idp_extension.gateway.users import DirectoryUser
from idp_extension.mail.sender import MemoryMailSender
from idp_extension.settings import Settings
from idp_extension.tenants import load_tenant

TOTP_CHANGES = ("totp_reset", "totp_enabled", "totp_disabled")
EXPECTED = {
    ("ms", "totp_reset"): ("Pengesahan Dua Faktor iSPEKS Telah Ditetapkan Semula",
                           "aplikasi pengesah yang baharu"),
    ("en", "totp_reset"): ("iSPEKS Two-factor Verification Reset", "set up a new one"),
    ("ms", "totp_enabled"): ("Pengesahan Dua Faktor iSPEKS Telah Diaktifkan", "telah diaktifkan"),
    ("en", "totp_enabled"): ("iSPEKS Two-factor Verification Turned On", "was turned on"),
    ("ms", "totp_disabled"): ("Pengesahan Dua Faktor iSPEKS Telah Dimatikan", "telah dimatikan"),
    ("en", "totp_disabled"): ("iSPEKS Two-factor Verification Turned Off", "was turned off"),
}


@pytest.mark.parametrize("locale", ["ms", "en"])
@pytest.mark.parametrize("change", TOTP_CHANGES)
def test_each_totp_change_is_mailed_in_both_languages(locale, change):
    assert change in CHANGES
    tenant = load_tenant(Settings().realm_templates_dir, "melaka")
    user = DirectoryUser("uuid-1", "800101045678", "PENGGUNA UJIAN", "pengguna@melaka.gov.my", True)
    mailer = MemoryMailSender()

    sent = notify(mailer, tenant, user, change, locale, datetime(2026, 11, 30, tzinfo=timezone.utc),
                  recovery_url="https://s.test/melaka/recovery")

    assert sent
    (mail,) = mailer.sent
    subject, words = EXPECTED[(locale, change)]
    assert mail.subject == f"{subject}: {'ID Pengguna' if locale == 'ms' else 'User ID'} 800101045678"
    assert words in mail.text and "PENGGUNA UJIAN" in mail.text and words in mail.html
