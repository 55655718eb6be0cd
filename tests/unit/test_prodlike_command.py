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
