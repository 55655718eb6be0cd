"""``ispeks-idp prod-like``: what it says when there is nothing to stop."""

from __future__ import annotations

from click.testing import CliRunner

from idp_extension.cli import main
from idp_extension.settings import load_settings


def test_down_without_a_running_topology_says_so(tmp_path):
    result = CliRunner().invoke(main, ["prod-like", "down", "--state-dir", str(tmp_path)],
                                obj=load_settings({}))
    assert result.exit_code == 1
    assert "no running topology" in result.output


def test_down_forgets_a_topology_whose_process_is_gone(tmp_path):
    (tmp_path / "topology.json").write_text('{"pid": 999999999}')
    result = CliRunner().invoke(main, ["prod-like", "down", "--state-dir", str(tmp_path)],
                                obj=load_settings({}))
    assert result.exit_code == 1 and "is gone" in result.output
    assert not (tmp_path / "topology.json").exists()


def test_the_cli_environment_holds_what_state_it_needs_and_not_the_sidecars_key(tmp_path):
    from types import SimpleNamespace

    from idp_extension.commands.prodlike import _write_cli_env

    settings = load_settings({}).with_overrides(
        keycloak_url="https://127.0.0.1:8443", keycloak_admin_url="http://127.0.0.1:8081",
        admin_client_secret="bootstrap-secret", secret_key="sidecar-only-key")
    path = _write_cli_env(SimpleNamespace(settings=settings), tmp_path)
    text = path.read_text()
    assert "ISPEKS_KEYCLOAK_ADMIN_URL=http://127.0.0.1:8081\n" in text
    assert "ISPEKS_ADMIN_CLIENT_SECRET=bootstrap-secret\n" in text
    assert "sidecar-only-key" not in text
    assert path.stat().st_mode & 0o777 == 0o600
