"""Batched user reads and writes for the payroll import, on one realm.

**Creating** goes through ``POST /admin/realms/{r}/partialImport`` with
``ifResourceExists=SKIP``, ``batch_size`` users per request (one transaction each),
``workers`` requests at a time. Never ``OVERWRITE``: Keycloak implements it as delete +
create, which wipes the user's credentials, sessions and id (keycloak#36408). Small
batches are faster than big ones: Keycloak flushes its whole persistence context as it
adds each user and its credential, so one request costs O(batch²); 25 per request with 3
in flight was about the best measured on the dev-file database (100 per request cost 40%
more CPU per user). A batch Keycloak refuses as a whole is retried
one user per request, so one bad row cannot sink the rest of its batch. partialImport
needs ``manage-realm``: with a realm's state-IT credential (``partial_import=False``)
every user is created with its own ``POST /users`` (same payload, no hashing either).

**Credentials of new users, and login timing.** Like ``UserDirectory.register_pending``,
every pre-registered user is *enabled* and has a password nobody knows, so that a login
attempt answers exactly as for an active user: same message, and the same argon2 check
(a user with no credential at all answers in ~15 ms instead of ~65 ms, which tells
"registered, not yet activated" apart). But asking Keycloak to hash a random password
costs one argon2id run per user: batched creation then ran at 19 users/s on the 2-core
benchmark machine, against 1,100 users/s without hashing. Instead each user gets a password credential whose argon2id *hash* is
32 random bytes under a random 16-byte salt, with Keycloak's own parameters. No
password hashes to it (finding one means inverting argon2), so it is an unknown password
that was never known to anyone, not even in memory, and a different one per user.
Keycloak checks a login attempt against it exactly as against a real hash: the same
algorithm, memory and iterations, hence the same time. The parameters must be the ones
Keycloak uses for real passwords: ``create_pending`` refuses a realm whose password
policy picks its own hashing, and an integration test compares the credential with one
Keycloak made itself (``register_pending``), so an upgrade that changes the defaults
fails a test instead of opening a timing difference.

**Reading** what exists: an empty realm is not read at all. A realm no larger than the
file is listed with brief representations, 5,000 per page (~0.45 ms of server CPU per
user), and only the users found in the file are then read in full (their attributes);
otherwise each ID of the file is looked up on its own (~2.2 ms per ID), so a small file
never pays for listing a large realm. Full listings are not used: on the dev-file
database each page re-sorts the whole user table and reads every listed user's
credentials, which costs more per user than one request each past a few thousand users.

**Updating** a changed user: read it, change only the payroll fields that differ, merge
the payroll attributes into its current attributes (PUT /users/{id} replaces the whole
map), write it back; ``update_workers`` users at a time. Credentials, ``enabled`` and
the sidecar's ``ispeks_*`` attributes are sent back exactly as read.
"""

from __future__ import annotations

import base64
import json
import secrets
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any, Callable, Iterable, Sequence, TypeVar

import requests
from keycloak import KeycloakAdmin

from idp_extension.gateway.errors import GatewayError
from idp_extension.gateway.raw import raw_response
from idp_extension.gateway.users import ACTIVATION_STATE, PENDING
from idp_extension.importing.plan import (
    DEPARTMENT, EMAIL, NAME, REGISTRATION_DATE, ExistingUser, UserUpdate, payroll_attributes,
)
from idp_extension.importing.run import (
    CreateOutcome, NoProgress, Progress, UpdateOutcome, WriteFailure,
)
from idp_extension.payroll import PayrollRecord

CREATE_BATCH = 25
CREATE_WORKERS = 3
READ_WORKERS = 4
UPDATE_WORKERS = 4
LIST_PAGE = 5000
# List every username (brief) rather than look each ID up when the realm has at most
# this many users per file row: listing costs ~1/5 of a lookup per user, but it is
# wasted on the rows that exist (they are read again), so list only small realms.
LIST_WHEN_REALM_PER_ROW = 1
# Keycloak 26's default password hashing outside FIPS (KEYCLOAK-NOTES.md): what a
# credential made by Keycloak itself carries in credentialData.
ARGON2_CREDENTIAL_DATA = {
    "hashIterations": 5,
    "algorithm": "argon2",
    "additionalParameters": {
        "hashLength": ["32"], "memory": ["7168"], "type": ["id"], "version": ["1.3"],
        "parallelism": ["1"],
    },
}
ARGON2_HASH_BYTES, SALT_BYTES = 32, 16
# Parts of a user representation Keycloak computes; they are not written back.
READ_ONLY = frozenset({"access", "createdTimestamp", "totp", "disableableCredentialTypes",
                       "notBefore", "userProfileMetadata"})

T = TypeVar("T")
R = TypeVar("R")


def unknown_password_credential() -> dict[str, Any]:
    """Return a password credential no password matches, checked at argon2's full cost."""
    secret = {
        "value": base64.b64encode(secrets.token_bytes(ARGON2_HASH_BYTES)).decode(),
        "salt": base64.b64encode(secrets.token_bytes(SALT_BYTES)).decode(),
        "additionalParameters": {},
    }
    return {"type": "password", "credentialData": json.dumps(ARGON2_CREDENTIAL_DATA),
            "secretData": json.dumps(secret)}


def pending_representation(record: PayrollRecord, credential: Callable[[], dict[str, Any]]
                           = unknown_password_credential) -> dict[str, Any]:
    """Return the new pre-registered user for ``record`` (what register_pending creates)."""
    return {
        "username": record.user_id,
        "enabled": True,
        "firstName": record.name,
        "email": record.email,
        "emailVerified": True,
        "attributes": {**payroll_attributes(record), ACTIVATION_STATE: [PENDING]},
        "credentials": [credential()],
    }


def _first(rep: dict[str, Any], key: str) -> str | None:
    values = (rep.get("attributes") or {}).get(key) or []
    return values[0] if values else None


def existing_user(rep: dict[str, Any]) -> ExistingUser:
    """Return the payroll fields of a full user representation."""
    return ExistingUser(
        uuid=rep["id"], user_id=rep["username"], first_name=rep.get("firstName") or "",
        last_name=rep.get("lastName") or "", email=rep.get("email") or "",
        department=_first(rep, DEPARTMENT), registration_date=_first(rep, REGISTRATION_DATE),
    )


def merged_update(rep: dict[str, Any], update: UserUpdate) -> dict[str, Any]:
    """Return ``rep`` with the changed payroll fields applied and nothing else touched."""
    record = update.record
    out = {k: v for k, v in rep.items() if k not in READ_ONLY}
    if NAME in update.changed:
        # Payroll has one full name: it goes to firstName, an old lastName would repeat it.
        out["firstName"] = record.name
        out.pop("lastName", None)
    if EMAIL in update.changed:
        out["email"] = record.email
        out["emailVerified"] = True  # payroll's official address, as at creation
    wanted = payroll_attributes(record)
    attributes = dict(out.get("attributes") or {})
    for key in (DEPARTMENT, REGISTRATION_DATE):
        if key in update.changed:
            attributes[key] = wanted[key]
    out["attributes"] = attributes
    return out


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        return str(body.get("errorMessage") or body.get("error_description")
                   or body.get("error") or body)[:300]
    return str(body)[:300]


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class BulkUsers:
    """The payroll import's reads and writes on one realm (``importing.run.BulkUserStore``)."""

    def __init__(self, admin: KeycloakAdmin, realm: str, *, batch_size: int = CREATE_BATCH,
                 workers: int = CREATE_WORKERS, read_workers: int = READ_WORKERS,
                 update_workers: int = UPDATE_WORKERS,
                 credential: Callable[[], dict[str, Any]] = unknown_password_credential,
                 partial_import: bool = True,
                 ) -> None:
        # ``credential``: only the benchmark passes another, to show what hashing costs.
        self._credential = credential
        # partialImport needs manage-realm: a realm's state-IT credential creates users
        # with one POST /users each instead (the same payload, ``batch_size`` per task).
        self._partial_import = partial_import
        self._connection = admin.connection
        self.realm = realm
        self._users = f"admin/realms/{realm}/users"
        self.batch_size = max(1, batch_size)
        self.workers = max(1, workers)
        self.read_workers = max(1, read_workers)
        self.update_workers = max(1, update_workers)
        self._hashing_checked = False

    # --- HTTP ---------------------------------------------------------------------------

    def _send(self, method: str, path: str, action: str, *, data: Any = None,
              **params: Any) -> requests.Response:
        """Send one request; network trouble and 502-504 become KeycloakUnavailable."""
        call = getattr(self._connection, f"raw_{method}")
        if data is None:
            return raw_response(action, lambda: call(path, **params))
        return raw_response(action, lambda: call(path, data=json.dumps(data), **params))

    def _expect(self, response: requests.Response, action: str) -> requests.Response:
        if response.status_code >= 300:
            raise GatewayError(f"{action}: Keycloak said {response.status_code}: "
                               f"{_error_text(response)}")
        return response

    def _in_parallel(self, workers: int, work: Callable[[T], R], items: Sequence[T],
                     advance: Callable[[T, R], None]) -> None:
        """Run ``work`` on every item, ``workers`` at a time; stop at the first error."""
        if not items:
            return
        with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
            futures: dict[Future, T] = {pool.submit(work, item): item for item in items}
            try:
                for future in as_completed(futures):
                    advance(futures[future], future.result())
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise

    # --- reading ------------------------------------------------------------------------

    def count(self) -> int:
        """Return how many users the realm has."""
        response = self._send("get", f"{self._users}/count", "count users")
        return int(self._expect(response, "count users").json())

    def existing(self, user_ids: Sequence[str], progress: Progress | None = None
                 ) -> dict[str, ExistingUser]:
        """Return the users among ``user_ids`` that exist, keyed by user ID."""
        progress = progress or NoProgress()
        wanted = set(user_ids)
        if not wanted:
            return {}
        total = self.count()
        if total == 0:
            return {}
        if total <= len(wanted) * LIST_WHEN_REALM_PER_ROW:
            uuids = self._list_usernames(wanted, total, progress)
            reps = self._read_each(sorted(uuids.values()), self._get_by_uuid, progress)
        else:
            reps = self._read_each(sorted(wanted), self._get_by_username, progress)
        found = (existing_user(rep) for rep in reps if rep["username"] in wanted)
        return {user.user_id: user for user in found}

    def _brief_page(self, first: int) -> list[dict[str, Any]]:
        response = self._send("get", self._users, "list users", first=first, max=LIST_PAGE,
                              briefRepresentation="true")
        return self._expect(response, "list users").json()

    def _list_usernames(self, wanted: set[str], total: int, progress: Progress) -> dict[str, str]:
        """Return username -> uuid of the wanted users, from brief listings."""
        found: dict[str, str] = {}
        pages = list(range(0, total + LIST_PAGE, LIST_PAGE))
        last_full = False

        with progress.phase("Listing existing users", len(pages)) as advance:
            def keep(first: int, page: list[dict[str, Any]]) -> None:
                nonlocal last_full
                found.update((u["username"], u["id"]) for u in page if u["username"] in wanted)
                if first == pages[-1]:
                    last_full = len(page) == LIST_PAGE
                advance(1)

            self._in_parallel(self.read_workers, self._brief_page, pages, keep)
            first = pages[-1]
            while last_full:  # users were added while listing: read on
                first += LIST_PAGE
                page = self._brief_page(first)
                keep(first, page)
                last_full = len(page) == LIST_PAGE
        return found

    def _get_by_uuid(self, uuid: str) -> dict[str, Any] | None:
        response = self._send("get", f"{self._users}/{uuid}", "read user")
        if response.status_code == 404:
            return None  # deleted meanwhile: the row counts as new
        return self._expect(response, "read user").json()

    def _get_by_username(self, user_id: str) -> dict[str, Any] | None:
        response = self._send("get", self._users, "find user", username=user_id, exact="true",
                              briefRepresentation="false")
        found = self._expect(response, "find user").json()
        return found[0] if found else None

    def _read_each(self, keys: Sequence[str], read: Callable[[str], dict[str, Any] | None],
                   progress: Progress) -> list[dict[str, Any]]:
        reps: list[dict[str, Any]] = []
        with progress.phase("Reading existing users", len(keys)) as advance:
            def keep(_: str, rep: dict[str, Any] | None) -> None:
                if rep is not None:
                    reps.append(rep)
                advance(1)

            self._in_parallel(self.read_workers, read, keys, keep)
        return reps

    # --- creating -----------------------------------------------------------------------

    def check_hashing(self) -> None:
        """Refuse a realm whose password policy picks its own hashing (see the docstring)."""
        response = self._send("get", f"admin/realms/{self.realm}", "read realm")
        # A state-IT credential (no view-realm) gets Keycloak's reduced realm view, without
        # the policy: then the template's policy, which realms apply keeps, is trusted.
        policy = self._expect(response, "read realm").json().get("passwordPolicy") or ""
        if "hashAlgorithm(" in policy or "hashIterations(" in policy:
            raise GatewayError(
                f"{self.realm}: the password policy sets its own hashing ({policy}); new "
                f"users' unknown-password credentials use Keycloak's argon2 defaults and "
                f"would answer logins at a different speed: update bulk_users first"
            )
        self._hashing_checked = True

    def create_pending(self, records: Sequence[PayrollRecord], progress: Progress | None = None
                       ) -> CreateOutcome:
        """Create pre-registered users in batches; skip any that exist by now."""
        progress = progress or NoProgress()
        if not records:
            return CreateOutcome()
        if not self._hashing_checked:
            self.check_hashing()
        created: list[str] = []
        appeared: list[str] = []
        failed: list[WriteFailure] = []
        with progress.phase("Creating users", len(records)) as advance:
            def keep(batch: Sequence[PayrollRecord], outcome: CreateOutcome) -> None:
                created.extend(outcome.created)
                appeared.extend(outcome.appeared)
                failed.extend(outcome.failed)
                advance(len(batch))

            self._in_parallel(self.workers, self._create_batch,
                              _chunks(records, self.batch_size), keep)
        return CreateOutcome(tuple(created), tuple(appeared), tuple(failed))

    def _create_batch(self, batch: Sequence[PayrollRecord]) -> CreateOutcome:
        if not self._partial_import:
            return self._create_each(batch)
        body = {"ifResourceExists": "SKIP",
                "users": [pending_representation(r, self._credential) for r in batch]}
        response = self._send("post", f"admin/realms/{self.realm}/partialImport",
                              "import users", data=body)
        if response.status_code in (401, 403):
            self._expect(response, "import users")
        if response.status_code >= 300:
            # Refused as a whole (one transaction): find the culprit one user at a time.
            return self._create_each(batch)
        actions = {r.get("resourceName"): r.get("action")
                   for r in response.json().get("results") or []
                   if r.get("resourceType") == "USER"}
        created = tuple(r.user_id for r in batch if actions.get(r.user_id) == "ADDED")
        appeared = tuple(r.user_id for r in batch if actions.get(r.user_id) == "SKIPPED")
        missing = tuple(WriteFailure(r.user_id, "not in Keycloak's answer")
                        for r in batch if actions.get(r.user_id) not in ("ADDED", "SKIPPED"))
        return CreateOutcome(created, appeared, missing)

    def _create_one(self, record: PayrollRecord) -> CreateOutcome:
        response = self._send("post", self._users, "create user",
                              data=pending_representation(record, self._credential))
        if response.status_code in (401, 403):
            self._expect(response, "create user")
        if response.status_code == 409:
            return CreateOutcome(appeared=(record.user_id,))
        if response.status_code >= 300:
            return CreateOutcome(failed=(WriteFailure(record.user_id, _error_text(response)),))
        return CreateOutcome(created=(record.user_id,))

    def _create_each(self, records: Iterable[PayrollRecord]) -> CreateOutcome:
        outcomes = [self._create_one(record) for record in records]
        return CreateOutcome(
            tuple(u for o in outcomes for u in o.created),
            tuple(u for o in outcomes for u in o.appeared),
            tuple(f for o in outcomes for f in o.failed),
        )

    def create_pending_one_per_request(self, records: Sequence[PayrollRecord]) -> CreateOutcome:
        """Create users with one POST /users each (the benchmark's baseline; same payload)."""
        if not self._hashing_checked:
            self.check_hashing()
        return self._create_each(records)

    # --- updating -----------------------------------------------------------------------

    def update_payroll_fields(self, updates: Sequence[UserUpdate],
                              progress: Progress | None = None) -> UpdateOutcome:
        """Write each user's changed payroll fields, keeping everything else as it is."""
        progress = progress or NoProgress()
        updated: list[str] = []
        failed: list[WriteFailure] = []
        with progress.phase("Updating changed users", len(updates)) as advance:
            def keep(update: UserUpdate, failure: WriteFailure | None) -> None:
                if failure is None:
                    updated.append(update.record.user_id)
                else:
                    failed.append(failure)
                advance(1)

            self._in_parallel(self.update_workers, self._update_one, updates, keep)
        return UpdateOutcome(tuple(updated), tuple(failed))

    def _update_one(self, update: UserUpdate) -> WriteFailure | None:
        user_id = update.record.user_id
        # Read afresh: the sidecar may have written since the import's read. Keycloak has
        # no conditional PUT, so a sidecar write in the milliseconds between this GET
        # and the PUT could still be lost; payroll changes are rare, the window short.
        rep = self._get_by_uuid(update.uuid)
        if rep is None:
            return WriteFailure(user_id, "deleted during the import")
        response = self._send("put", f"{self._users}/{update.uuid}", "update user",
                              data=merged_update(rep, update))
        if response.status_code in (401, 403):
            self._expect(response, "update user")
        if response.status_code == 404:
            return WriteFailure(user_id, "deleted during the import")
        if response.status_code >= 300:
            return WriteFailure(user_id, _error_text(response))
        return None
