"""The package as a state installs it: a wheel in a fresh venv outside the checkout.

The wheel is built from a copy of the checkout and installed into a new venv in a
temporary folder; from there the CLI renders and checks every state, and the sidecar
(the venv's gunicorn with ``deploy/gunicorn.conf.py``, two workers) serves all four
states behind the ``/idp`` prefix against the session's Keycloak and SMTP inbox:
pages, forms, static files, the gallery, an activation by emailed link (links and
cookies under /idp), the site key, the probes and the metrics of both workers, and an
officer signed in through Keycloak (password and TOTP code) on the helpdesk console,
the report pages and the settings' TOTP page, in Malay and in English.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import time
from urllib.parse import urlsplit

import pytest
import requests

from idp_extension.demo_users import synthetic_people
from idp_extension.flows.site_key import IMAGE_ATTRIBUTE, PHRASE_ATTRIBUTE
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE, UserDirectory
from idp_extension.keycloak_server import free_port
from idp_extension.realms.render import SIDECAR_CALLBACK_PATHS
from idp_extension.settings import PROJECT_ROOT, load_settings
from idp_extension.tenants import load_tenants
from idp_extension.web.security import origin_of
from tests.support.accounts import active_account
from tests.support.addresses import loopback_session
from tests.support.constants import CSRF
from tests.support.metrics import assert_counted
from tests.support.pages import outside
from tests.support.processes import stop_process
from tests.support.reporting import department, seed_departments
from tests.support.totp_login import StepLogin, sign_in_via
from tests.support.waiting import wait_until
from tests.support.wheel import InstalledWheel, build_and_install, clean_environment

pytestmark = pytest.mark.timeout(900)  # the first run on a machine fills the wheelhouse

STATES = ["kelantan", "melaka", "pahang", "selangor"]
PREFIX = "/idp"
# Where each state's onboarding starts (README: "What people use").
ONBOARDING = {"pahang": "activation", "kelantan": "activation",
              "selangor": "first-login", "melaka": "first-login"}
LOGS = {}  # sidecar public URL -> its gunicorn log


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> InstalledWheel:
    wheelhouse = load_settings().cache_dir / "wheelhouse"
    return build_and_install(tmp_path_factory.mktemp("wheel"), wheelhouse)


@pytest.fixture(scope="module")
def wheel_env(provisioned_realms):
    """ISPEKS_* of the session, minus the template and theme folders (the wheel has its own)."""
    env = provisioned_realms.as_environment()
    for name in ("ISPEKS_REALM_TEMPLATES_DIR", "ISPEKS_THEMES_DIR", "ISPEKS_CACHE_DIR"):
        env.pop(name, None)
    return env


def run(installed: InstalledWheel, *args: str, env: dict, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([str(installed.bin(args[0])), *args[1:]], env=clean_environment(**env),
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_venv_runs_the_wheel_and_its_data_not_the_checkout(installed, wheel_env, tmp_path):
    probe = ("import idp_extension, idp_extension.settings as s; c = s.load_settings(); "
             "print(idp_extension.__file__); print(c.realm_templates_dir); print(c.themes_dir)")
    result = run(installed, "python", "-c", probe, env=wheel_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for line in result.stdout.split():
        assert line.startswith(str(installed.venv)), line
        assert not line.startswith(str(PROJECT_ROOT))
    themes = result.stdout.split()[2]
    for state in STATES:
        assert (os.path.join(themes, f"ispeks-{state}", "login", "theme.properties")
                and os.path.isfile(os.path.join(themes, f"ispeks-{state}", "login",
                                                "theme.properties")))


def test_the_cli_renders_every_state_and_finds_keycloak_up_to_date(installed, wheel_env, tmp_path):
    listed = run(installed, "ispeks-idp", "realms", "list", env=wheel_env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert sorted(line.split("\t")[0] for line in listed.stdout.splitlines()) == STATES
    for state in STATES:
        rendered = run(installed, "ispeks-idp", "realms", "render", state, env=wheel_env,
                       cwd=tmp_path)
        assert rendered.returncode == 0, rendered.stderr
        realm = json.loads(rendered.stdout)
        assert realm["realm"] == state and realm["loginTheme"] == f"ispeks-{state}"
    # The session provisioned the realms from the checkout: the wheel's templates agree.
    applied = run(installed, "ispeks-idp", "realms", "apply", "--dry-run", env=wheel_env,
                  cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert sorted(applied.stdout.splitlines()) == [f"{s}: no changes" for s in STATES]


@pytest.fixture(scope="module")
def wheel_sidecar(installed, wheel_env, redis_server, tmp_path_factory):
    """The venv's gunicorn with the deploy config, mounted at /idp, two workers on Redis."""
    folder = tmp_path_factory.mktemp("wheel-sidecar")
    port = free_port()
    public = f"http://127.0.0.1:{port}{PREFIX}"
    env = dict(wheel_env, ISPEKS_SIDECAR_PUBLIC_URL=public,
               ISPEKS_AUDIT_LOG=str(folder / "audit.jsonl"),
               # Two workers share their rate limits and claims, as in production.
               ISPEKS_RATELIMIT_STORAGE_URI=redis_server.fresh_database_uri(),
               PROMETHEUS_MULTIPROC_DIR=str(folder / "metrics"))
    log_path = folder / "gunicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(installed.bin("gunicorn")), "-c", str(PROJECT_ROOT / "deploy/gunicorn.conf.py"),
             "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "8",
             "idp_extension.web.wsgi:app"],
            env=clean_environment(**env), cwd=folder, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if requests.get(f"{base}/livez", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        LOGS[public] = log_path
        yield public
    finally:
        stop_process(process, 20, group=True)


@pytest.mark.parametrize("state", STATES)
def test_every_state_is_served_under_the_prefix(wheel_sidecar, provisioned_realms, state):
    tenant = load_tenants(provisioned_realms.realm_templates_dir)[state]
    landing = requests.get(f"{wheel_sidecar}/{state}/", timeout=10)
    assert landing.status_code == 200
    body = html.unescape(landing.text)
    assert tenant.display_name in body and tenant.version_label in body
    assert f'href="{PREFIX}/{state}/{ONBOARDING[state]}"' in body
    assert f'href="{PREFIX}/static/' in body

    for flow in (ONBOARDING[state], "recovery"):
        page = requests.get(f"{wheel_sidecar}/{state}/{flow}", timeout=10)
        assert page.status_code == 200, flow
        assert f'action="{PREFIX}/{state}/{flow}"' in page.text


def test_static_files_and_gallery_come_from_the_wheel(wheel_sidecar):
    css = requests.get(f"{wheel_sidecar}/static/css/ispeks.css", timeout=10)
    assert css.status_code == 200 and "text/css" in css.headers["Content-Type"]
    image = requests.get(f"{wheel_sidecar}/static/gallery/hornbill.svg", timeout=10)
    assert image.status_code == 200 and image.headers["Content-Type"].startswith("image/svg")


def test_activation_by_emailed_link_keeps_links_and_cookies_under_the_prefix(
        wheel_sidecar, provisioned_realms, mail_inbox):
    tenant = load_tenants(provisioned_realms.realm_templates_dir)["pahang"]
    [record] = synthetic_people(tenant, 1, seed="wheel-activation")
    UserDirectory(bootstrap_admin(provisioned_realms), "pahang").register_pending(record)
    browser = requests.Session()

    form = browser.get(f"{wheel_sidecar}/pahang/activation", timeout=10)
    session_cookie = next(c for c in browser.cookies if c.name == "ispeks_session")
    assert session_cookie.path == PREFIX
    mark = mail_inbox.last_id
    sent = browser.post(f"{wheel_sidecar}/pahang/activation", timeout=20, data={
        "user_id": record.user_id, "csrf_token": CSRF.search(form.text).group(1)})
    assert sent.status_code == 200, sent.text

    email = mail_inbox.wait_for(to=record.email, after=mark, timeout=20)
    link = re.search(rf"{re.escape(wheel_sidecar)}/pahang/activation/link/\S+", email.text)
    assert link, email.text
    opened = browser.get(link.group(0), timeout=10, allow_redirects=False)
    assert opened.status_code == 303
    assert urlsplit(opened.headers["Location"]).path == f"{PREFIX}/pahang/activation/account"
    link_cookie = next(c for c in browser.cookies if c.name != "ispeks_session")
    assert link_cookie.path.startswith(f"{PREFIX}/pahang/activation")

    account = browser.get(f"{wheel_sidecar}/pahang/activation/account", timeout=10)
    assert account.status_code == 200 and record.name in html.unescape(account.text)
    # The deploy config's access log masks the token (the path now starts with /idp).
    token = link.group(0).rsplit("/", 1)[1]
    # A worker logs a request after answering it.
    log = wait_until(LOGS[wheel_sidecar].read_text,
                     lambda text: "/idp/pahang/activation/link/[REDACTED]" in text,
                     what="the link request in the access log")
    assert token not in log


def test_site_key_answers_with_gallery_urls_under_the_prefix(wheel_sidecar, provisioned_realms):
    tenant = load_tenants(provisioned_realms.realm_templates_dir)["selangor"]
    [record] = synthetic_people(tenant, 1, seed="wheel-site-key")
    directory = UserDirectory(bootstrap_admin(provisioned_realms), "selangor")
    user, _ = directory.register_pending(record)
    directory.update_attributes(user.id, {ACTIVATION_STATE: [ACTIVE],
                                          PHRASE_ATTRIBUTE: ["Bulan Purnama di Kuala"],
                                          IMAGE_ATTRIBUTE: ["moon"]})
    answer = requests.post(f"{wheel_sidecar}/selangor/site-key", data={"id": record.user_id},
                           headers={"Origin": origin_of(provisioned_realms.keycloak_url)},
                           timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["phrase"] == "Bulan Purnama di Kuala"
    assert body["image"]["url"] == f"{wheel_sidecar}/static/gallery/moon.svg"
    assert requests.get(body["image"]["url"], timeout=10).status_code == 200


def test_probes_and_metrics_of_both_workers(wheel_sidecar):
    own = wheel_sidecar.removesuffix(PREFIX)  # Prometheus and health checks skip the proxy
    assert requests.get(f"{own}/livez", timeout=10).json() == {"status": "ok"}
    ready = requests.get(f"{own}/readyz", timeout=20)
    assert ready.status_code == 200, ready.text
    # Both workers: 12 separate connections, counted whichever worker served them.
    assert_counted(f"{own}/metrics", f"{wheel_sidecar}/kelantan/recovery", "kelantan",
                   "/<realm>/recovery", 12)

    text = requests.get(f"{own}/metrics", timeout=10).text
    for series in ("ispeks_keycloak_request_duration_seconds_count",
                   "ispeks_http_request_duration_seconds_bucket"):
        assert series in text
    assert requests.get(f"{own}/metrics", headers={"X-Forwarded-For": "203.0.113.7"},
                        timeout=10).status_code == 404


def test_flow_outcomes_and_mail_latency_are_exported(wheel_sidecar, provisioned_realms,
                                                     mail_inbox):
    # Run after the activation test in this module or alone: send one link here.
    tenant = load_tenants(provisioned_realms.realm_templates_dir)["kelantan"]
    [record] = synthetic_people(tenant, 1, seed="wheel-metrics")
    UserDirectory(bootstrap_admin(provisioned_realms), "kelantan").register_pending(record)
    browser = requests.Session()
    form = browser.get(f"{wheel_sidecar}/kelantan/activation", timeout=10)
    mark = mail_inbox.last_id
    browser.post(f"{wheel_sidecar}/kelantan/activation", timeout=20, data={
        "user_id": record.user_id, "csrf_token": CSRF.search(form.text).group(1)})
    mail_inbox.wait_for(to=record.email, after=mark, timeout=20)

    # The worker counts the send just after the inbox has the mail.
    sent = re.compile(r'ispeks_flow_events_total\{event="account:activation:requested",'
                      r'outcome="success",realm="kelantan"\} [1-9]')
    text = wait_until(
        lambda: requests.get(f"{wheel_sidecar.removesuffix(PREFIX)}/metrics", timeout=10).text,
        sent.search, what="the activation request in the metrics")
    assert re.search(r'ispeks_mail_send_duration_seconds_count\{outcome="sent"\} [1-9]', text)


@pytest.fixture
def wheel_callbacks(wheel_sidecar, provisioned_realms):
    """Keycloak may send browsers back to the wheel's sidecar (its own public URL) in
    Pahang, for one test: the session's realm gets its redirect URIs back afterwards."""
    kc = bootstrap_admin(provisioned_realms, "pahang")
    uuid = kc.get_client_id("ispeks-sidecar")
    before = kc.get_client(uuid)["redirectUris"]
    kc.update_client(uuid, {"redirectUris": before + [
        f"{wheel_sidecar}/pahang/{path}" for path in SIDECAR_CALLBACK_PATHS]})
    try:
        yield
    finally:
        kc.update_client(uuid, {"redirectUris": before})


def test_console_report_and_totp_settings_render_from_the_wheel(wheel_sidecar, wheel_callbacks,
                                                                  provisioned_realms):
    """The console's, the report's and the settings' templates and messages ship in the
    wheel: an officer (Meja Bantuan, an authenticator app enrolled) signs in through
    Keycloak and every page renders, its links and forms under /idp."""
    settings, realm = provisioned_realms, "pahang"
    officer = active_account(settings, realm, "wheel-officer", tasks=("meja-bantuan",))
    target = active_account(settings, realm, "wheel-console-target")
    # A department with a pending user: the report links to its list (made before the
    # wheel's sidecar makes its first summary).
    seed_departments(settings, realm, "wheel-report", [(department("Wheel"), "pending", "")])
    user_id, password = officer.user.user_id, officer.password
    app, used, _ = StepLogin(settings.keycloak_url, realm).first_login_enrolling(user_id, password)
    browser = loopback_session()
    console = f"{wheel_sidecar}/{realm}/pentadbiran"

    def page(url: str, *words: str) -> requests.Response:
        answer = browser.get(url, timeout=30)
        assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
        return checked(answer, *words)

    def checked(answer: requests.Response, *words: str) -> requests.Response:
        text = html.unescape(answer.text)
        for expected in words:
            assert expected in text, (answer.url, expected)
        assert outside(answer.text, PREFIX) == [], answer.url
        return answer

    home = sign_in_via(browser, f"{console}/", user_id, password, app, used)
    assert (home.status_code, home.url) == (200, f"{console}/"), home.text[:300]
    checked(home, "Pentadbiran Pengguna", "Cari Pengguna", user_id)
    page(f"{console}/?q={target.user.user_id}", target.record.name)
    card = page(f"{console}/pengguna/{target.user.user_id}", target.record.name,
                "Tarikh Pendaftaran")
    assert f'action="{PREFIX}/{realm}/pentadbiran/pengguna/{target.user.user_id}/' in card.text
    page(f"{console}/daftar", "Daftar Pengguna Baharu", "No. Kad Pengenalan")

    # The report: its first summary may still be in the making (503 "sedang disediakan").
    report = wait_until(lambda: browser.get(f"{console}/laporan/", timeout=60),
                        lambda answer: answer.status_code == 200, timeout=120,
                        what="the report's first summary")
    checked(report, "Laporan Kempen Pengaktifan", "Angka setakat")
    pending = re.search(rf'href="({PREFIX}/{realm}/pentadbiran/laporan/jabatan\?d=[^"]+)"',
                        report.text)
    assert pending, "the report links to each department's pending users"
    page(f"{wheel_sidecar.removesuffix(PREFIX)}{html.unescape(pending.group(1))}",
         "Pengguna belum aktif")
    page(f"{console}/laporan/peringatan", "Hantar Peringatan")

    # English, then "Log Keluar": the console's own signed-out page (and Keycloak's
    # session ended).
    english = page(f"{console}/laporan/?lang=en", "Activation Campaign Report")
    signed_out = browser.post(f"{console}/logout", timeout=30,
                              data={"csrf_token": CSRF.search(english.text).group(1)})
    assert (signed_out.status_code, signed_out.url) == (200, f"{console}/signed-out")
    checked(signed_out, "You have logged out of User Administration.")

    # The settings' TOTP page (a sign-in of its own: password and code again), in the
    # language chosen, then in Malay.
    settings_totp = f"{wheel_sidecar}/{realm}/settings/totp"
    totp = sign_in_via(browser, settings_totp, user_id, password, app, used)
    assert (totp.status_code, totp.url) == (200, settings_totp), totp.text[:300]
    checked(totp, "Two-factor Verification (TOTP)", "Status: On", "cannot be turned off")
    page(f"{settings_totp}?lang=ms", "Pengesahan Dua Faktor (TOTP)", "Status: Aktif",
         "tidak boleh dimatikan")
    assert all(c.path.startswith((f"{PREFIX}", "/realms/")) for c in browser.cookies), [
        (c.name, c.path) for c in browser.cookies]
