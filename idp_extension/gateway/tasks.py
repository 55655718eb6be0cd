"""Tasks on one realm: read, grant and revoke the client roles of ``ispeks-tugas``.

Works with the state's own IT credential (``connection.state_it_admin``), which holds
``manage-users``/``view-users``/``query-users`` and nothing of clients or roles:

* mapping a client role that is no admin role to a user needs only ``manage-users``;
* the client's id cannot be looked up (listing clients needs ``view-clients``, which
  would also show every client's secret): ``realms apply`` gives ``ispeks-tugas`` an id
  derived from the realm (``tasks.client_uuid``);
* a user's mappings of the client cannot be read either (403 without a view right on
  the client), but ``GET .../role-mappings/clients/{id}/available`` can: the roles the
  user does NOT hold directly, with their ids. So the client's roles are read once from
  the available roles of state IT's own service account (which holds none), and a
  user's direct tasks are those roles minus the user's available ones.

Batched (the task import): users are found like the payroll import does, each user's
tasks are read ``read_workers`` at a time, and each user's new tasks go in ONE mapping
request, ``write_workers`` at a time.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Callable, Sequence
from urllib.parse import quote

from keycloak import KeycloakAdmin

from idp_extension.gateway.bulk_users import BulkUsers
from idp_extension.gateway.errors import GatewayError
from idp_extension.importing.run import NoProgress, Progress
from idp_extension.credentials import STATE_IT_CLIENT_ID
from idp_extension.tasks import CLIENT_ID, TOTP_MARKER, client_uuid

SERVICE_ACCOUNT = f"service-account-{STATE_IT_CLIENT_ID}"
READ_WORKERS = 4
LIST_WHEN_REALM_PER_USER = 4
WRITE_WORKERS = 4


class TaskRoles:
    """Task verbs on one realm, by user uuid."""

    def __init__(self, admin: KeycloakAdmin, realm: str, *, read_workers: int = READ_WORKERS,
                 write_workers: int = WRITE_WORKERS) -> None:
        self.realm = realm
        self._bulk = BulkUsers(admin, realm, partial_import=False, read_workers=read_workers)
        self.read_workers = max(1, read_workers)
        self.write_workers = max(1, write_workers)
        self._client_uuid: str | None = None
        self._roles: dict[str, dict] = {}
        self._lock = threading.Lock()

    # --- plumbing ---------------------------------------------------------------------

    def _send(self, method: str, path: str, action: str, *, data: Any = None, **params):
        return self._bulk._send(method, path, action, data=data, **params)

    def _json(self, method: str, path: str, action: str, **params) -> Any:
        response = self._bulk._expect(self._send(method, path, action, **params), action)
        return response.json() if response.content else None

    def client_uuid(self) -> str:
        """The id of ``ispeks-tugas`` (derived; checked once against Keycloak)."""
        if self._client_uuid is None:
            self._client_uuid = client_uuid(self.realm)
            self.roles()
        return self._client_uuid

    def _mappings(self, uuid: str, suffix: str = "") -> str:
        return (f"admin/realms/{self.realm}/users/{quote(uuid, safe='')}/role-mappings/"
                f"clients/{self.client_uuid()}{suffix}")

    def _available(self, uuid: str) -> list[dict]:
        path = (f"admin/realms/{self.realm}/users/{quote(uuid, safe='')}/role-mappings/"
                f"clients/{self._client_uuid}/available")
        response = self._send("get", path, "read tasks")
        if response.status_code == 404 and "Client" in response.text:
            raise GatewayError(
                f"{self.realm}: no client {CLIENT_ID} with the id realms apply gives it "
                f"({self._client_uuid}): run `ispeks-idp realms apply --state {self.realm}`; "
                f"a {CLIENT_ID} made by hand must be deleted first")
        return self._bulk._expect(response, "read tasks").json() or []

    def roles(self) -> dict[str, dict]:
        """name -> {id, composite} of every role of the client (read once)."""
        if self._client_uuid is None:
            self._client_uuid = client_uuid(self.realm)
        if not self._roles:
            found = self._json("get", f"admin/realms/{self.realm}/users", "find state IT",
                               username=SERVICE_ACCOUNT, exact="true", briefRepresentation="true")
            own = [u for u in found or [] if u.get("username") == SERVICE_ACCOUNT]
            if not own:
                raise GatewayError(f"{self.realm}: no user {SERVICE_ACCOUNT}")
            reps = self._available(own[0]["id"])
            with self._lock:
                self._roles = {r["name"]: {"id": r["id"], "composite": bool(r.get("composite"))}
                               for r in reps}
        return self._roles

    # --- reading ----------------------------------------------------------------------

    def direct(self, uuid: str) -> set[str]:
        """The tasks granted to the user themselves (not through a group)."""
        self.client_uuid()
        available = {r["name"] for r in self._available(uuid)}
        return set(self.roles()) - available

    def totp_required(self, held: set[str]) -> bool:
        """True if ``held`` (direct tasks) bring ``totp-wajib`` (contract: every composite
        role of the client contains it)."""
        roles = self.roles()
        return TOTP_MARKER in held or any(roles.get(r, {}).get("composite") for r in held)

    def users(self, user_ids: Sequence[str], progress: Progress | None = None) -> dict[str, str]:
        """user ID -> uuid of those among ``user_ids`` that exist.

        Like the payroll import: a realm up to LIST_WHEN_REALM_PER_USER times the file's
        users is listed (brief, 5,000 a page; ids are all that is needed here, and a
        listed user costs about a fifth of a lookup), else each ID is looked up.
        """
        progress = progress or NoProgress()
        wanted = set(user_ids)
        if not wanted:
            return {}
        total = self._bulk.count()
        if total == 0:
            return {}
        if total <= len(wanted) * LIST_WHEN_REALM_PER_USER:
            return self._bulk._list_usernames(wanted, total, progress)
        found = self._bulk._read_each(sorted(wanted), self._bulk._get_by_username, progress)
        return {rep["username"]: rep["id"] for rep in found if rep["username"] in wanted}

    def direct_of_many(self, uuids: Sequence[str], progress: Progress | None = None
                       ) -> dict[str, set[str]]:
        """uuid -> direct tasks, ``read_workers`` users at a time."""
        progress = progress or NoProgress()
        found: dict[str, set[str]] = {}
        with progress.phase("Reading current tasks", len(uuids)) as advance:
            def keep(uuid: str, roles: set[str]) -> None:
                found[uuid] = roles
                advance(1)

            self._bulk._in_parallel(self.read_workers, self.direct, list(uuids), keep)
        return found

    # --- writing ----------------------------------------------------------------------

    def _role_reps(self, names: Sequence[str]) -> list[dict[str, str]]:
        roles = self.roles()
        unknown = [n for n in names if n not in roles]
        if unknown:
            raise GatewayError(f"{self.realm}: no task role {', '.join(unknown)} in "
                               f"{CLIENT_ID}: run `ispeks-idp realms apply --state {self.realm}`")
        return [{"id": roles[n]["id"], "name": n} for n in names]

    def grant(self, uuid: str, names: Sequence[str]) -> None:
        """Grant ``names`` to one user in one request."""
        if names:
            self._json("post", self._mappings(uuid), "grant tasks",
                       data=self._role_reps(sorted(names)))

    def revoke(self, uuid: str, names: Sequence[str]) -> None:
        """Take ``names`` from one user in one request."""
        if names:
            self._json("delete", self._mappings(uuid), "revoke tasks",
                       data=self._role_reps(sorted(names)))

    def grant_many(self, grants: Sequence[tuple[str, Sequence[str]]],
                   progress: Progress | None = None,
                   failed: Callable[[str, str], None] | None = None) -> list[str]:
        """Grant each (uuid, names), one request per user, ``write_workers`` at a time.

        Returns the uuids written; a refusal of one user is passed to ``failed`` (uuid,
        reason) and the others go on; Keycloak unreachable stops the run.
        """
        progress = progress or NoProgress()
        done: list[str] = []

        def work(item: tuple[str, Sequence[str]]) -> str | None:
            uuid, names = item
            try:
                self.grant(uuid, names)
            except GatewayError as exc:
                # A credential refused (401/403) is not one user's problem: stop.
                if failed is None or re.search(r"Keycloak said 40[13]\b", str(exc)):
                    raise
                failed(uuid, str(exc))
                return None
            return uuid

        with progress.phase("Granting tasks", sum(len(n) for _, n in grants)) as advance:
            def keep(item: tuple[str, Sequence[str]], uuid: str | None) -> None:
                if uuid:
                    done.append(uuid)
                advance(len(item[1]))

            self._bulk._in_parallel(self.write_workers, work, list(grants), keep)
        return done

    def grant_one_per_request(self, grants: Sequence[tuple[str, str]]) -> None:
        """Grant (uuid, name) pairs with one request each, one at a time (bench baseline)."""
        for uuid, name in grants:
            self.grant(uuid, [name])
