"""What every state's realm looks like: the facts both the render tests (unit) and the
provisioning tests (integration, read back from Keycloak) compare against."""

from __future__ import annotations

STATES = ["pahang", "kelantan", "selangor", "melaka"]
VERSION_LABELS = {
    "pahang": "Versi 3.0.07",
    "kelantan": "Versi 5.0",
    "selangor": "Portal iSPEKS versi 2.1",
    "melaka": "Versi 4.0",
}
POLICY = ("length(12) and upperCase(1) and lowerCase(1) and digits(1) and specialChars(1) "
          "and notUsername and passwordHistory(3)")
JOHOR = '''\
# Made-up fifth state for the "one values file per state" test.
realm = "johor"
state_name = "Johor"
display_name = "iSPEKS Kerajaan Negeri Johor"
product = "iSPEKS"
version_label = "Versi 9.9"
onboarding = "activation-link"
email_domains = ["johor.gov.my"]

[[helpdesk]]
name = "Meja Bantuan iSPEKS Johor"
phone = "07-555 0909"
email = "bantuan.ispeks@johor.gov.my"

[[portal_clients]]
client_id = "portal-ispeks"
name = "Portal iSPEKS"
root_url = "https://p.ispeks.johor.gov.my/eispeks/"
redirect_uris = ["https://p.ispeks.johor.gov.my/eispeks/oidc/callback"]
'''


def totp_steps(level: int, forms: str = "ispeks-browser-forms") -> list[tuple]:
    """The two TOTP subflows after the password form (issue 12)."""
    return [
        (level, f"flow:{forms}-totp-wajib", "CONDITIONAL"),
        (level + 1, "auth:conditional-user-role", "REQUIRED"),
        (level + 1, "auth:auth-otp-form", "REQUIRED"),
        (level, f"flow:{forms}-totp-pilihan", "CONDITIONAL"),
        (level + 1, "auth:conditional-user-role", "REQUIRED"),
        (level + 1, "auth:conditional-user-configured", "REQUIRED"),
        (level + 1, "auth:auth-otp-form", "REQUIRED"),
    ]


# The sidecar's flow (first login): cookie, or the one username-and-password form and TOTP.
BROWSER_FLOW = [
    (0, "auth:auth-cookie", "ALTERNATIVE"),
    (0, "flow:ispeks-browser-forms", "ALTERNATIVE"),
    (1, "auth:ispeks-username-password-form", "REQUIRED"),
    *totp_steps(1),
]
# The realm's default flow (portals): the same, then pending accounts are refused.
PORTAL_FLOW = [
    (0, "flow:ispeks-browser-portal-login", "REQUIRED"),
    (1, "auth:auth-cookie", "ALTERNATIVE"),
    (1, "flow:ispeks-browser-portal-forms", "ALTERNATIVE"),
    (2, "auth:ispeks-username-password-form", "REQUIRED"),
    *totp_steps(2, "ispeks-browser-portal-forms"),
    (0, "flow:ispeks-browser-portal-pending", "CONDITIONAL"),
    (1, "auth:conditional-user-attribute", "REQUIRED"),
    (1, "auth:deny-access-authenticator", "REQUIRED"),
]


def assert_portal_client(client: dict) -> None:
    """A portal's client: public, the code flow with PKCE (S256) only (no password grant,
    no implicit flow), no wildcard in its redirect URIs."""
    assert client["publicClient"] is True and client["standardFlowEnabled"] is True
    assert client["directAccessGrantsEnabled"] is False
    assert client["implicitFlowEnabled"] is False
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    assert not any("*" in uri for uri in client["redirectUris"])
