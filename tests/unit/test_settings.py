"""Settings from ``ISPEKS_*`` variables: a value that cannot be used names its variable."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from idp_extension.cli import main
from idp_extension.settings import SettingsError, load_settings


def test_numbers_are_read():
    settings = load_settings({"ISPEKS_TRUSTED_PROXY_HOPS": "1", "ISPEKS_SMTP_PORT": " 587 "})

    assert (settings.trusted_proxy_hops, settings.smtp_port) == (1, 587)


@pytest.mark.parametrize("name", ["ISPEKS_TRUSTED_PROXY_HOPS", "ISPEKS_SMTP_PORT"])
@pytest.mark.parametrize("value", ["abc", "-1", "1.5"])
def test_a_bad_number_is_refused_with_the_variables_name(name, value):
    with pytest.raises(SettingsError) as caught:
        load_settings({name: value})

    assert str(caught.value) == f"{name}={value!r}: expected a whole number, 0 or more"


def test_the_command_line_says_which_variable_is_wrong_without_a_traceback(monkeypatch):
    monkeypatch.setenv("ISPEKS_TRUSTED_PROXY_HOPS", "satu")
    result = CliRunner().invoke(main, ["users", "list", "--state", "pahang", "--pending"])

    assert result.exit_code == 1
    assert "Error: ISPEKS_TRUSTED_PROXY_HOPS='satu': expected a whole number" in result.output
    assert "Traceback" not in result.output


def test_the_admin_api_url_defaults_to_keycloaks_url_and_can_be_set_apart():
    assert load_settings({"ISPEKS_KEYCLOAK_URL": "https://sso.example"}).admin_api_url == "https://sso.example"
    settings = load_settings({"ISPEKS_KEYCLOAK_URL": "https://sso.example",
                              "ISPEKS_KEYCLOAK_ADMIN_URL": "http://10.0.0.5:8081"})
    assert settings.admin_api_url == "http://10.0.0.5:8081"
    assert settings.as_environment()["ISPEKS_KEYCLOAK_ADMIN_URL"] == "http://10.0.0.5:8081"


def test_both_admin_clients_call_the_admin_api_url():
    from idp_extension.gateway.connection import bootstrap_admin, sidecar_admin

    settings = load_settings({"ISPEKS_KEYCLOAK_URL": "https://sso.example",
                              "ISPEKS_KEYCLOAK_ADMIN_URL": "http://10.0.0.5:8081"})
    assert bootstrap_admin(settings).connection.server_url == "http://10.0.0.5:8081"
    assert sidecar_admin(settings, "pahang").connection.server_url == "http://10.0.0.5:8081"
