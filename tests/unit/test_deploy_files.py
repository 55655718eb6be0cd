"""The files in deploy/ are valid for the programs that read them (no servers started)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from idp_extension.prodlike.services import (
    DEPLOY_DIR,
    NginxProxy,
    ServiceError,
    make_self_signed_certificate,
    render_template,
)

TEMPLATE = DEPLOY_DIR / "nginx" / "ispeks.conf.template"


def _values(folder):
    cert, key = make_self_signed_certificate(folder / "tls")
    return {
        "PUBLIC_LISTEN": "127.0.0.1:8443", "INTERNAL_LISTEN": "127.0.0.1:8081",
        "SERVER_NAME": "sso.example", "TLS_CERTIFICATE": str(cert), "TLS_CERTIFICATE_KEY": str(key),
        "ACCESS_LOG": str(folder / "access.log"), "ERROR_LOG": str(folder / "error.log"),
        "KEYCLOAK_NODE_1": "127.0.0.1:8080", "KEYCLOAK_NODE_2": "127.0.0.1:8082",
        "SIDECAR_1": "127.0.0.1:5000", "SIDECAR_2": "127.0.0.1:5001",
        "PASSWORD_POSTS_PER_MINUTE": "600", "PASSWORD_POSTS_BURST": "30",
    }


def test_rendering_fills_only_the_deploy_variables_and_keeps_nginxs_own():
    assert render_template("listen ${PUBLIC_LISTEN}; set $x $remote_addr;",
                           {"PUBLIC_LISTEN": "443"}) == "listen 443; set $x $remote_addr;"
    with pytest.raises(ServiceError, match="SIDECAR_1"):
        render_template("server ${SIDECAR_1};", {})


def test_the_readme_exports_every_variable_of_the_nginx_template():
    wanted = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", TEMPLATE.read_text()))
    readme = (DEPLOY_DIR / "README.md").read_text()
    exported = set(re.findall(r"\b([A-Z][A-Z0-9_]*)=", readme))
    assert wanted <= exported, wanted - exported


def test_the_readmes_envsubst_command_renders_what_the_harness_renders(tmp_path):
    """deploy/README.md section 4 renders the template with envsubst; the harness (and so
    every deploy test) with render_template: the two must give the same file."""
    readme = (DEPLOY_DIR / "README.md").read_text()
    command = re.search(r"^(envsubst .*?)\n  < deploy/nginx/ispeks\.conf\.template > ", readme,
                        re.M | re.S)
    assert command, "section 4's envsubst command is gone"
    values = _values(tmp_path)
    rendered = subprocess.run(
        ["sh", "-c", command.group(1).rstrip(" \\") + " < " + str(TEMPLATE)],
        env={"PATH": "/usr/bin:/bin", **values}, cwd=DEPLOY_DIR.parent, capture_output=True,
        text=True, check=True).stdout
    assert rendered == render_template(TEMPLATE.read_text(), values)


def test_nginx_accepts_the_rendered_template(tmp_path):
    proxy = NginxProxy(tmp_path / "nginx", _values(tmp_path), 8443)
    conf = proxy.write_config()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    try:
        result = subprocess.run([nginx, "-t", "-p", str(proxy.folder), "-e",
                                 str(tmp_path / "e.log"), "-c", str(conf)],
                                capture_output=True, text=True)
    finally:
        proxy.remove_temp_dir()
    assert result.returncode == 0, result.stderr


def test_the_database_script_is_valid_shell_and_keeps_the_password_off_the_command_line():
    script = DEPLOY_DIR / "postgres" / "create-database.sh"
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    text = script.read_text()
    assert "\\getenv pw KEYCLOAK_DB_PASSWORD" in text and "PASSWORD %L" in text
    assert not re.search(r"^\s*psql[^\n]*KEYCLOAK_DB_PASSWORD", text, re.M)


def test_keycloak_is_built_for_postgresql_with_health_metrics_and_a_database_discovered_cluster():
    conf = dict(line.split("=", 1) for line in (DEPLOY_DIR / "keycloak" / "keycloak.conf")
                .read_text().splitlines() if line and not line.startswith("#"))
    assert conf["db"] == "postgres"
    assert conf["health-enabled"] == conf["metrics-enabled"] == "true"
    assert conf["cache"] == "ispn" and conf["cache-stack"] == "jdbc-ping"


def test_the_production_build_is_keyed_by_its_source_and_configuration(tmp_path):
    from idp_extension.prodlike.services import ProductionBuild

    one = ProductionBuild(tmp_path, tmp_path / "keycloak-a").home
    assert one == ProductionBuild(tmp_path, tmp_path / "keycloak-a").home
    assert one != ProductionBuild(tmp_path, tmp_path / "keycloak-b").home
    assert one.parent == tmp_path / "prod-like"
