"""Print how long the site-key endpoint takes, per kind of ID.

Starts its own Keycloak (a throw-away data folder), applies the Selangor realm, makes an
active user with a phrase, a pending one and a locked one (three wrong passwords), then
times the sidecar's ``POST /selangor/site-key`` (in process, real Keycloak behind it)
for each kind of ID, with the production floor and without it (raw lookup cost),
medians side by side. Keycloak's own login form is timed by ``bench.login_timing``; the
answers at a fixed rate from many addresses by ``bench.site_key_rate``.

Run: ``python -m bench.site_key_timing [--calls 15]``.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time

from bench._keycloak import bench_keycloak
from idp_extension.demo_users import synthetic_people
from idp_extension.flows.site_key import DEFAULT_MIN_SECONDS, IMAGE_ATTRIBUTE, PHRASE_ATTRIBUTE
from idp_extension.gateway.connection import bootstrap_admin
from idp_extension.gateway.users import ACTIVATION_STATE, ACTIVE, UserDirectory
from idp_extension.keycloak_server import KEYCLOAK_VERSION
from idp_extension.passwords import random_password
from idp_extension.tenants import load_tenant
from idp_extension.web import create_app
from idp_extension.web import site_key as web_site_key
from idp_extension.web.security import origin_of
from tests.support.oidc_login import CALLBACK, login

STATE = "selangor"
WRONG = "Salah-Kata-Laluan-1"


def _median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:7.1f} ms"


def _wait_until_locked(directory, uuid: str, timeout: float = 10.0) -> None:
    # Keycloak records failures a moment after answering the form.
    deadline = time.monotonic() + timeout
    while not directory.get(uuid).permanently_locked:
        if time.monotonic() > deadline:
            raise RuntimeError("three wrong passwords did not lock the account")
        time.sleep(0.2)


def _people(settings):
    directory = UserDirectory(bootstrap_admin(settings), STATE)
    tenant = load_tenant(settings.realm_templates_dir, STATE)
    active_rec, pending_rec, locked_rec = synthetic_people(tenant, 3, seed="bench-site-key")
    made = {}
    for kind, record in (("active", active_rec), ("pending", pending_rec), ("locked", locked_rec)):
        user, _ = directory.register_pending(record)
        if kind != "pending":
            password = random_password()
            directory.set_password(user.id, password)
            directory.update_attributes(user.id, {
                ACTIVATION_STATE: [ACTIVE], PHRASE_ATTRIBUTE: ["Kapal Layar di Muara Biru"],
                IMAGE_ATTRIBUTE: ["boat"]})
        made[kind] = user
    for _ in range(3):
        login(settings.keycloak_url, STATE, made["locked"].user_id, WRONG)
    _wait_until_locked(directory, made["locked"].id)
    made["unknown"] = None
    return directory, made


def _site_key_medians(settings, ids: dict[str, str], calls: int, floor: float) -> dict[str, str]:
    app = create_app(settings)
    app.extensions[web_site_key.MIN_SECONDS_KEY] = floor
    client = app.test_client()
    headers = {"Origin": origin_of(settings.keycloak_url), "Accept": "application/json"}
    samples: dict[str, list[float]] = {kind: [] for kind in ids}
    for n in range(calls + 1):
        for kind, user_id in ids.items():  # interleaved: drift hits every kind alike
            began = time.perf_counter()
            answer = client.post(f"/{STATE}/site-key", data={"id": user_id}, headers=headers,
                                 environ_base={"REMOTE_ADDR": f"10.9.{n % 250}.1"})
            elapsed = time.perf_counter() - began
            assert answer.status_code == 200, answer.get_data(as_text=True)
            if n:  # the first round warms connections and the token
                samples[kind].append(elapsed)
    return {kind: _median_ms(values) for kind, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=15, help="calls per kind of ID")
    calls = parser.parse_args().calls
    with bench_keycloak(STATE, secret_key=secrets.token_urlsafe(32),
                        extra_redirect_uris=(CALLBACK,)) as keycloak:
        settings = keycloak.settings
        _, people = _people(settings)
        ids = {kind: (user.user_id if user else "850101035555")
               for kind, user in people.items()}
        floored = _site_key_medians(settings, ids, calls, DEFAULT_MIN_SECONDS)
        raw = _site_key_medians(settings, ids, calls, 0.0)
    print(f"Keycloak {KEYCLOAK_VERSION}, realm {STATE}, median of {calls} calls per kind of ID")
    print(f"\nPOST /{STATE}/site-key")
    print(f"{'ID':<10} {'floor ' + str(int(DEFAULT_MIN_SECONDS * 1000)) + ' ms':>12} {'no floor':>12}")
    for kind in ids:
        print(f"{kind:<10} {floored[kind]:>12} {raw[kind]:>12}")


if __name__ == "__main__":
    main()
