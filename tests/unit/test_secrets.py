"""Secrets: never derivable, refused when weak in production, readable from files."""

from __future__ import annotations

import secrets

import pytest
from click.testing import CliRunner

from idp_extension.audit import MemoryAuditLog
from idp_extension.cli import main
from idp_extension.commands.users import _who
from idp_extension.credentials import (
    SIDECAR_CLIENT_ID, STATE_IT_CLIENT_ID, CredentialError, CredentialStore, FileSecret,
)
from idp_extension.gateway.oidc import MetadataCache, OidcClient
from idp_extension.mail.sender import MemoryMailSender
from idp_extension.settings import (
    MAKE_A_SECRET, Settings, SettingsError, load_settings, require_strong_settings,
    secret_problem,
)
from idp_extension.web import Services, create_app

STRONG = secrets.token_urlsafe(48)
PRODUCTION = {"sidecar_public_url": "https://sso.ispeks.gov.my/idp",
              "keycloak_url": "https://sso.ispeks.gov.my"}


# --- what counts as weak -----------------------------------------------------------------

@pytest.mark.parametrize("value, problem", [
    ("", "is not set"),
    ("dev-only-secret-key-change-me", "is a placeholder (contains 'change-me')"),
    ("change-me-64-random-characters-change-me-64-random", "is a placeholder"),
    ("CHANGEME" + "a" * 40, "is a placeholder (contains 'changeme')"),
    ("this-is-an-example-secret-of-sufficient-length-1234", "is a placeholder"),
    ("dev-only-client-secret-seed-abcdefghijklmnopqrstuvwxyz", "is a placeholder"),
    ("s3cr3t-but-short", "is too short (16 bytes, 32 or more needed)"),
    ("a" * 31, "is too short (31 bytes"),
])
def test_weak_secrets_are_named(value, problem):
    assert secret_problem(value).startswith(problem)


def test_a_random_secret_is_fine():
    assert secret_problem(STRONG) is None
    assert secret_problem("é" * 16) is None  # 32 bytes of UTF-8


def test_the_built_in_defaults_hold_no_usable_secret():
    defaults = Settings()
    assert secret_problem(defaults.secret_key) and secret_problem(defaults.admin_client_secret)
    assert not hasattr(defaults, "client_secret_seed")
    assert not hasattr(defaults, "sidecar_client_secret")


@pytest.mark.parametrize("overrides, strict", [
    ({}, False),
    ({"keycloak_url": "http://localhost:8080"}, False),
    ({"keycloak_url": "http://[::1]:8080"}, False),
    ({"sidecar_public_url": "https://sso.ispeks.gov.my/idp"}, True),
    ({"keycloak_url": "http://10.0.0.5:8080"}, True),
    ({"keycloak_url": "http://sso.internal:8080"}, True),
])
def test_strict_means_https_or_a_keycloak_elsewhere(overrides, strict):
    assert Settings(**overrides).strict is strict


def test_weak_settings_are_refused_only_where_strict():
    require_strong_settings(Settings(), "secret_key", "admin_client_secret")  # dev: fine

    with pytest.raises(SettingsError) as caught:
        require_strong_settings(Settings(**PRODUCTION), "secret_key")

    message = str(caught.value)
    assert message.startswith("ISPEKS_SECRET_KEY is a placeholder (contains 'change-me')")
    assert "ISPEKS_SECRET_KEY_FILE" in message and MAKE_A_SECRET in message
    with pytest.raises(SettingsError, match="^ISPEKS_ADMIN_CLIENT_SECRET is too short"):
        require_strong_settings(Settings(**PRODUCTION, admin_client_secret="short"),
                                "admin_client_secret")


# --- secrets from files --------------------------------------------------------------------

def test_a_secret_comes_from_its_file(tmp_path):
    (tmp_path / "key").write_text(STRONG + "\n")
    (tmp_path / "smtp").write_text("relay password with spaces \n")

    settings = load_settings({"ISPEKS_SECRET_KEY_FILE": str(tmp_path / "key"),
                              "ISPEKS_SMTP_PASSWORD_FILE": str(tmp_path / "smtp")})

    assert settings.secret_key == STRONG
    assert settings.smtp_password == "relay password with spaces "


def test_a_secret_comes_from_a_systemd_credential(tmp_path):
    (tmp_path / "ISPEKS_ADMIN_CLIENT_SECRET").write_text(STRONG)

    settings = load_settings({"CREDENTIALS_DIRECTORY": str(tmp_path)})

    assert settings.admin_client_secret == STRONG
    assert load_settings({"CREDENTIALS_DIRECTORY": str(tmp_path / "none")}).admin_client_secret == ""


def test_a_secret_given_twice_is_refused_naming_both(tmp_path):
    (tmp_path / "key").write_text(STRONG)

    with pytest.raises(SettingsError) as caught:
        load_settings({"ISPEKS_SECRET_KEY": STRONG, "ISPEKS_SECRET_KEY_FILE": str(tmp_path / "key")})

    assert str(caught.value).startswith("ISPEKS_SECRET_KEY and ISPEKS_SECRET_KEY_FILE are both set")
    assert STRONG not in str(caught.value)
    (tmp_path / "ISPEKS_SECRET_KEY").write_text(STRONG)
    with pytest.raises(SettingsError, match="ISPEKS_SECRET_KEY_FILE and the systemd credential"):
        load_settings({"ISPEKS_SECRET_KEY_FILE": str(tmp_path / "key"),
                       "CREDENTIALS_DIRECTORY": str(tmp_path)})


@pytest.mark.parametrize("content, problem", [(None, "cannot read"), ("\n", "is empty")])
def test_a_missing_or_empty_secret_file_is_refused(tmp_path, content, problem):
    path = tmp_path / "key"
    if content is not None:
        path.write_text(content)

    with pytest.raises(SettingsError, match=f"^ISPEKS_SECRET_KEY_FILE: .*{problem}"):
        load_settings({"ISPEKS_SECRET_KEY_FILE": str(path)})


def test_credentials_dir_defaults_to_the_dev_stacks(tmp_path):
    settings = load_settings({"XDG_CACHE_HOME": str(tmp_path)})
    assert settings.credentials_path == tmp_path / "ispeks-idp" / "dev" / "credentials"
    chosen = load_settings({"ISPEKS_CREDENTIALS_DIR": str(tmp_path / "c")})
    assert chosen.credentials_path == tmp_path / "c"
    assert chosen.as_environment()["ISPEKS_CREDENTIALS_DIR"] == str(tmp_path / "c")


# --- the credentials directory -------------------------------------------------------------

def test_store_writes_private_files_atomically(tmp_path):
    store = CredentialStore(tmp_path / "credentials")

    path = store.write("pahang", SIDECAR_CLIENT_ID, ["new", "old"])

    assert path == tmp_path / "credentials" / "pahang" / "ispeks-sidecar.secret"
    assert path.read_text() == "new\nold\n"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "credentials").stat().st_mode & 0o777 == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["ispeks-sidecar.secret"]
    assert store.read("pahang", SIDECAR_CLIENT_ID) == ["new", "old"]
    assert store.read("selangor", SIDECAR_CLIENT_ID) == []


def test_store_refuses_a_missing_or_weak_secret_saying_what_to_run(tmp_path):
    store = CredentialStore(tmp_path)
    with pytest.raises(CredentialError, match="realms apply --state pahang"):
        store.require("pahang", STATE_IT_CLIENT_ID, strict=False)
    store.write("pahang", STATE_IT_CLIENT_ID, ["too-short"])

    assert store.require("pahang", STATE_IT_CLIENT_ID, strict=False) == ["too-short"]
    with pytest.raises(CredentialError, match="rotate-secret --state pahang --client state-it"):
        store.require("pahang", STATE_IT_CLIENT_ID, strict=True)
    with pytest.raises(CredentialError):
        store.path("../master", SIDECAR_CLIENT_ID)


def test_file_secret_follows_the_file_and_tries_what_worked_first(tmp_path):
    store = CredentialStore(tmp_path)
    store.write("kelantan", SIDECAR_CLIENT_ID, ["one"])
    source = FileSecret(store, "kelantan", SIDECAR_CLIENT_ID)
    assert source.candidates() == ["one"]
    source.worked("one")

    store.write("kelantan", SIDECAR_CLIENT_ID, ["two", "one"])  # a rotation, prepared
    assert source.candidates() == ["one", "two"]

    store.write("kelantan", SIDECAR_CLIENT_ID, ["two"])  # finished
    assert source.candidates() == ["two"]


class _Transport:
    """A token endpoint that knows one secret."""

    def __init__(self, accepted: str) -> None:
        self.accepted = accepted
        self.sent: list[str] = []

    def get_json(self, url):
        issuer = "http://kc.test/realms/kelantan"
        return {"issuer": issuer, "token_endpoint": f"{issuer}/token",
                "end_session_endpoint": f"{issuer}/logout"}

    def post_form(self, url, data):
        self.sent.append(data["client_secret"])
        if data["client_secret"] != self.accepted:
            return 401, {"error": "unauthorized_client"}
        return 204, {}


def test_oidc_client_tries_the_files_other_secret_when_refused(tmp_path):
    store = CredentialStore(tmp_path)
    store.write("kelantan", SIDECAR_CLIENT_ID, ["new", "old"])
    source = FileSecret(store, "kelantan", SIDECAR_CLIENT_ID)
    transport = _Transport(accepted="old")
    client = OidcClient("http://kc.test", "kelantan", SIDECAR_CLIENT_ID, client_secret=source,
                        transport=transport, cache=MetadataCache())

    client.end_session("refresh-token")
    client.end_session("refresh-token")

    assert transport.sent == ["new", "old", "old"]  # the one that worked is tried first


# --- the sidecar and the CLI refuse to start ---------------------------------------------

def _production_app(tmp_path, **overrides):
    settings = Settings(**PRODUCTION, credentials_dir=tmp_path, **overrides)
    return create_app(settings)


def test_sidecar_refuses_the_default_secret_key_in_production(tmp_path):
    with pytest.raises(SettingsError, match="^ISPEKS_SECRET_KEY is a placeholder"):
        _production_app(tmp_path)


def test_sidecar_refuses_a_missing_or_weak_client_secret_in_production(tmp_path):
    with pytest.raises(SettingsError, match="no secret for client ispeks-sidecar of"):
        _production_app(tmp_path, secret_key=STRONG)
    store = CredentialStore(tmp_path)
    for realm in ("pahang", "kelantan", "selangor", "melaka"):
        store.write(realm, SIDECAR_CLIENT_ID, [secrets.token_urlsafe(48)])
    store.write("melaka", SIDECAR_CLIENT_ID, ["change-me"])

    with pytest.raises(SettingsError, match="melaka/ispeks-sidecar.secret is a placeholder"):
        _production_app(tmp_path, secret_key=STRONG)

    store.write("melaka", SIDECAR_CLIENT_ID, [secrets.token_urlsafe(48)])
    assert _production_app(tmp_path, secret_key=STRONG).name


def test_sidecar_in_development_starts_on_the_defaults(tmp_path):
    app = create_app(Settings(credentials_dir=tmp_path),
                     services=Services(audit=MemoryAuditLog(), mail=MemoryMailSender()))
    assert app.test_client().get("/healthz").status_code == 200


def _cli(env: dict, *args: str):
    return CliRunner().invoke(main, list(args), env=env)


def test_cli_refuses_a_weak_master_secret_against_a_remote_keycloak(tmp_path):
    result = _cli({"ISPEKS_KEYCLOAK_URL": "https://sso.ispeks.gov.my",
                   "ISPEKS_ADMIN_CLIENT_SECRET": "change-me"}, "realms", "apply")

    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: ISPEKS_ADMIN_CLIENT_SECRET is a placeholder (contains 'change-me')")
    assert MAKE_A_SECRET in result.output and "Traceback" not in result.output


def test_cli_refuses_a_weak_state_it_secret_against_a_remote_keycloak(tmp_path):
    CredentialStore(tmp_path).write("pahang", STATE_IT_CLIENT_ID, ["short"])

    result = _cli({"ISPEKS_KEYCLOAK_URL": "https://sso.ispeks.gov.my",
                   "ISPEKS_CREDENTIALS_DIR": str(tmp_path)},
                  "users", "list", "--state", "pahang", "--pending")

    assert result.exit_code == 1
    assert "pahang/ispeks-state-it.secret is too short" in result.output
    assert "Traceback" not in result.output


def test_cli_without_a_state_credential_says_how_to_get_one(tmp_path):
    result = _cli({"ISPEKS_CREDENTIALS_DIR": str(tmp_path)},
                  "users", "unlock", "--state", "selangor", "850101065551")

    assert result.exit_code == 1
    assert "no secret for client ispeks-state-it of selangor" in result.output
    assert "ispeks-idp realms apply --state selangor" in result.output


def test_audit_names_the_officer_or_the_login_name(monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "siti")
    assert _who(None) == {"actor": "siti", "client": STATE_IT_CLIENT_ID}
    assert _who("Aminah (IT Pahang)")["actor"] == "Aminah (IT Pahang)"


def test_the_removed_seed_variable_is_refused_not_ignored():
    with pytest.raises(SettingsError, match="^ISPEKS_CLIENT_SECRET_SEED is no longer used"):
        load_settings({"ISPEKS_CLIENT_SECRET_SEED": "anything"})
