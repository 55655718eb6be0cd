"""Per-realm client secrets, one file per realm and client, random and independent.

::

    <credentials dir>/                      0700
      <realm>/                              0700
        ispeks-sidecar.secret               0600  the sidecar's client (its realm only)
        ispeks-state-it.secret              0600  state IT's client (that realm's users only)

``realms apply`` writes a file when it creates a client, or finds a client without one
(a new random secret is then set in Keycloak too); an existing file is reused. Nothing
is derived from anything: knowing one realm's secret says nothing about another's.

A file holds one secret per line: the first is the one to use; during a rotation
(``realms rotate-secret``) a second line holds the previous one, which Keycloak may
still expect. Whoever reads a file (the sidecar, the CLI) tries the secret that worked
last, then the others, and re-reads the file when it changes, so a rotation never
needs a restart.
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

from idp_extension.settings import MAKE_A_SECRET, Settings, secret_problem

SIDECAR_CLIENT_ID = "ispeks-sidecar"
STATE_IT_CLIENT_ID = "ispeks-state-it"
# ``--client`` names of the rotate command -> client ids.
CLIENTS = {"sidecar": SIDECAR_CLIENT_ID, "state-it": STATE_IT_CLIENT_ID}
SUFFIX = ".secret"


class CredentialError(ValueError):
    """A client secret file is missing, unreadable or weak; the message says what to do."""


def new_secret() -> str:
    """A fresh random client secret (48 random bytes, 64 characters)."""
    return secrets.token_urlsafe(48)


class SecretSource(Protocol):
    """The secrets one client may authenticate with, best guess first."""

    def candidates(self) -> list[str]: ...

    def worked(self, secret: str) -> None: ...


@dataclass
class FixedSecret:
    """One secret that never changes (tests, one-off tools)."""

    secret: str

    def candidates(self) -> list[str]:
        return [self.secret]

    def worked(self, secret: str) -> None:
        pass


class CredentialStore:
    """The credentials directory: read, write and describe the secret files."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def from_settings(cls, settings: Settings) -> "CredentialStore":
        return cls(settings.credentials_path)

    def path(self, realm: str, client_id: str) -> Path:
        if "/" in realm or realm.startswith(".") or "/" in client_id:
            raise CredentialError(f"not a realm or client name: {realm!r} {client_id!r}")
        return self.root / realm / f"{client_id}{SUFFIX}"

    def read(self, realm: str, client_id: str) -> list[str]:
        """The file's secrets (current first), or [] if there is no file."""
        path = self.path(realm, client_id)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise CredentialError(f"cannot read {path} ({exc.__class__.__name__})") from None
        return [line.strip() for line in text.splitlines() if line.strip()]

    def write(self, realm: str, client_id: str, values: Sequence[str]) -> Path:
        """Replace the file atomically with ``values`` (current first); 0600 in 0700 dirs."""
        path = self.path(realm, client_id)
        for folder in (self.root, path.parent):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder.chmod(0o700)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write("".join(f"{value}\n" for value in values))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return path

    def require(self, realm: str, client_id: str, *, strict: bool) -> list[str]:
        """The file's secrets; refuse a missing file, and where ``strict`` a weak secret."""
        values = self.read(realm, client_id)
        path = self.path(realm, client_id)
        if not values:
            raise CredentialError(
                f"no secret for client {client_id} of {realm} ({path} is missing): "
                f"run `ispeks-idp realms apply --state {realm}` with the master credential, "
                f"or set ISPEKS_CREDENTIALS_DIR to the folder that holds it")
        if strict:
            problem = secret_problem(values[0])
            if problem:
                client = next((k for k, v in CLIENTS.items() if v == client_id), client_id)
                raise CredentialError(
                    f"the secret in {path} {problem}: run `ispeks-idp realms rotate-secret "
                    f"--state {realm} --client {client}` (it makes one like {MAKE_A_SECRET})")
        return values

    def source(self, realm: str, client_id: str, *, strict: bool = False) -> "FileSecret":
        """A ``SecretSource`` reading this client's file (checked now, re-read on change)."""
        self.require(realm, client_id, strict=strict)
        return FileSecret(self, realm, client_id)


class FileSecret:
    """A client's secrets from its file, re-read whenever the file changes (thread-safe)."""

    def __init__(self, store: CredentialStore, realm: str, client_id: str) -> None:
        self._store, self._realm, self._client_id = store, realm, client_id
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._values: list[str] = []
        self._last_good: str | None = None

    def candidates(self) -> list[str]:
        path = self._store.path(self._realm, self._client_id)
        with self._lock:
            try:
                info = path.stat()
                stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
            except FileNotFoundError:
                stamp = None
            if stamp != self._stamp:
                self._values = self._store.read(self._realm, self._client_id)
                self._stamp = stamp
            ordered = list(self._values)
            if self._last_good is not None:
                # The one that worked last goes first, while the file still lists it.
                if self._last_good in ordered:
                    ordered.remove(self._last_good)
                    ordered.insert(0, self._last_good)
            return ordered

    def worked(self, secret: str) -> None:
        with self._lock:
            self._last_good = secret


_SOURCES: dict[tuple[Path, str, str], FileSecret] = {}
_SOURCES_LOCK = threading.Lock()


def sidecar_secret(settings: Settings, realm: str) -> SecretSource:
    """The realm's sidecar client secret source, one per process and realm."""
    store = CredentialStore.from_settings(settings)
    key = (store.root, realm, SIDECAR_CLIENT_ID)
    with _SOURCES_LOCK:
        if key not in _SOURCES:
            _SOURCES[key] = FileSecret(store, realm, SIDECAR_CLIENT_ID)
        return _SOURCES[key]
