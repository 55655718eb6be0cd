"""The README's run command: ``ispeks-idp dev`` brings the whole stack up, twice."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from idp_extension.keycloak_server import free_port


def _run_dev(data_dir, ports) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPEKS_")}
    result = subprocess.run(
        [sys.executable, "-m", "idp_extension.cli", "dev", "--exit-when-ready",
         "--data-dir", str(data_dir), "--pending-users", "2",
         "--keycloak-port", str(ports[0]), "--keycloak-management-port", str(ports[1]),
         "--sidecar-port", str(ports[2]), "--smtp-port", str(ports[3]),
         "--inbox-port", str(ports[4])],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_dev_starts_everything_prints_urls_and_reuses_its_data(tmp_path):
    ports = [free_port() for _ in range(5)]

    first = _run_dev(tmp_path, ports)
    second = _run_dev(tmp_path, ports)

    for state in ("pahang", "kelantan", "selangor", "melaka"):
        assert f"http://127.0.0.1:{ports[0]}/realms/{state}/" in first
        assert f"http://127.0.0.1:{ports[2]}/{state}/" in first
    assert f"http://127.0.0.1:{ports[4]}/" in first
    assert "Stopped." in first
    # One active demo user per state, whose password the command prints...
    passwords = re.findall(r"active\s+(\d{12}).*password: (\S+)", first)
    assert len(passwords) == 4
    # ...and the second start reuses the data: same users, same passwords, no re-creation.
    assert re.findall(r"active\s+(\d{12}).*password: (\S+)", second) == passwords
    assert second.count("Realm ") == 4 and "no changes" in second
