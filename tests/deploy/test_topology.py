"""The topology as deploy/ describes it: a cluster of two, metrics and health private,
the admin side closed to the public, TLS, the /idp prefix, limits and a clean access log."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from idp_extension.prodlike.services import wait_until
from idp_extension.tenants import list_states
from tests.deploy.support import Production

# The session's topology starts within the first test's time: PostgreSQL, a Keycloak
# build and two nodes take minutes on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(900)

LINK = re.compile(r"https://\S+?/idp/(?P<realm>[a-z]+)/activation/link/(?P<token>[A-Za-z0-9_.\-]+)")


def test_two_keycloak_nodes_form_one_cluster_with_health_and_metrics_on(production: Production):
    nodes = production.topology.nodes
    assert [node.cluster_size() for node in nodes] == [2, 2]
    for node in nodes:
        # Readiness includes a periodic database check: give it one period to settle.
        wait_until(lambda: requests.get(node.health_url, timeout=5).status_code == 200, 60,
                   f"{node.name} ready")
        assert requests.get(node.health_url, timeout=10).json()["status"] == "UP"
        metrics = requests.get(node.metrics_url, timeout=10).text
        assert "jvm_memory_used_bytes" in metrics


def test_the_public_side_serves_only_keycloaks_public_paths_and_the_sidecar(production: Production):
    session = production.session()
    for closed in ("/admin/", "/admin/master/console/", "/admin/realms/pahang/users",
                   "/realms/master/protocol/openid-connect/certs", "/health/ready", "/metrics",
                   "/"):
        assert session.get(production.url + closed, timeout=10).status_code == 404, closed
    well_known = session.get(f"{production.url}/realms/pahang/.well-known/openid-configuration",
                             timeout=10)
    assert well_known.status_code == 200
    # Keycloak names itself by the proxy's public address, not a node's.
    assert well_known.json()["issuer"] == f"{production.url}/realms/pahang"
    assert session.get(f"{production.url}/idp/healthz", timeout=10).json()["status"] == "ok"
    # The internal listener does reach the admin API (state IT's CLI, the sidecars).
    token = requests.post(
        f"{production.topology.internal_url}/realms/master/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": production.settings.admin_client_id,
              "client_secret": production.settings.admin_client_secret}, timeout=20)
    assert token.status_code == 200


def test_an_active_user_logs_in_over_https_through_the_proxy(production: Production):
    [record] = production.active_users("pahang", "deploy:login", 1)
    login = production.login("pahang", record.user_id)
    assert login.ok, login
    assert production.still_logged_in("pahang", login.session)
    assert not production.login("pahang", record.user_id, "Salah-Kata-Laluan-1").ok


def test_an_activation_through_idp_emails_a_prefixed_link_and_the_access_log_hides_its_token(
        production: Production):
    [record] = production.pending_users("kelantan", "deploy:activation", 1)
    session = production.session()
    mark = production.inbox.last_id
    sent = production.sidecar_form(session, "/idp/kelantan/activation", {"user_id": record.user_id})
    assert sent.status_code == 200, sent.text[:500]
    email = production.inbox.wait_for(to=record.email, after=mark, timeout=30)
    link = LINK.search(email.text)
    assert link and link.group(0).startswith(f"{production.url}/idp/kelantan/"), email.text
    opened = session.get(link.group(0), allow_redirects=False, timeout=20)
    assert opened.status_code == 303
    assert opened.headers["Location"] == "/idp/kelantan/activation/account"
    account = session.get(production.url + opened.headers["Location"], timeout=20)
    assert account.status_code == 200 and record.user_id in account.text

    log = production.topology.access_log.read_text()
    assert "/idp/kelantan/activation/link/[REDACTED]" in log
    assert link.group("token") not in log
    error_log = production.topology.access_log.with_name("error.log")
    assert not error_log.exists() or link.group("token") not in error_log.read_text()
    assert "?" not in "".join(line.split('"')[1] for line in log.splitlines() if '"' in line)


def test_password_posts_from_one_address_are_limited_by_the_proxy(production: Production):
    topology = production.topology
    target = f"{production.url}/realms/pahang/login-actions/authenticate"
    burst = topology.password_posts_burst + 20

    def post(_):
        return requests.post(target, data={"username": "x", "password": "y"},
                             verify=production.verify, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=burst) as pool:
        statuses = list(pool.map(post, range(burst)))
    assert statuses.count(429) >= 1, statuses
    # The limit counts posts only: the pages themselves still load.
    assert requests.get(f"{production.url}/realms/pahang/account/", verify=production.verify,
                        timeout=30).status_code == 200


def test_the_checks_after_a_deploy_pass(production: Production):
    """deploy/README.md section 8, one check after another, as state IT runs them."""
    topology = production.topology
    session = production.session()
    assert session.get(f"{production.url}/idp/livez", timeout=20).json() == {"status": "ok"}
    metrics = ""
    for sidecar in topology.sidecars:
        # Each sidecar host's own probes, without the /idp prefix.
        ready = requests.get(f"http://{sidecar.address}/readyz", timeout=30)
        assert (ready.status_code, ready.json()) == (200, {"status": "ok"})
        metrics += requests.get(f"http://{sidecar.address}/metrics", timeout=30).text
    for series in ("ispeks_http_requests_total", "ispeks_keycloak_request_duration_seconds"):
        assert series in metrics, series
    assert session.get(f"{production.url}/idp/metrics", timeout=20).status_code == 404
    assert session.get(f"{production.url}/admin/", timeout=20).status_code == 404
    # `ispeks-idp realms apply` from the provisioning host: nothing left to change.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPEKS_")}
    env.update(production.settings.as_environment())
    applied = subprocess.run([sys.executable, "-m", "idp_extension.cli", "realms", "apply"],
                             env=env, capture_output=True, text=True, timeout=300)
    assert applied.returncode == 0, applied.stderr
    states = list_states(production.settings.realm_templates_dir)
    assert applied.stdout.splitlines() == [f"{state}: no changes" for state in states]
