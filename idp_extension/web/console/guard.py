"""Who may use the helpdesk console, decided from Keycloak's token alone.

::

    officer_required(fresh=False)   a view decorator: signed in to THIS realm's console
                                    (the record's issuer is the realm's), holding Meja Bantuan
                                    or Pentadbir Sistem, TOTP passed; with ``fresh=True`` the
                                    login is at most 5 minutes old (else → /reauth, nothing
                                    changed). Pages get a redirect to Keycloak when not
                                    signed in; ``/api/`` views get a 401 JSON answer.
    current_officer()               the ``Officer`` of the request (ID, name, tasks, ...)

The callback (``views.callback``) turns the verified ID token into the officer's record
with ``officer_from_claims``: the ``tugas`` claim (the tasks, client roles of
``ispeks-tugas``) must hold a console task, and the ``amr`` claim must name ``otp``.
Keycloak 26 puts ``amr`` in a token only through the ``oidc-amr-mapper`` protocol mapper
and only for executions whose config has an authentication reference
(``default.reference.value``): the realm template gives every OTP form of the browser
flows the reference ``otp`` and the sidecar's client the mapper. A sign-in without it (an
SSO session that never saw the OTP form, or the login that enrolled the app) is sent once
to ``/reauth`` (``prompt=login``), then refused. ``acr`` is not used: without
an ACR-to-LoA mapping Keycloak's ``acr`` says only "1" (this login asked for
credentials) or "0" (an SSO cookie), not which.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from flask import g, jsonify, redirect, request, url_for

from idp_extension import errors
from idp_extension.tasks import HELPDESK, SYSTEM_ADMIN, tasks_in_claims
from idp_extension.web import sessions
from idp_extension.gateway.oidc import OidcClient
from idp_extension.web.services import current_services
from idp_extension.web.tenant import current_context

OFFICER_KEY = "console.officer"
PENDING_KEY = "console.login"
# How long the console stays open after a sign-in (viewing); changes need a fresh login.
SIGNED_IN_SECONDS = 30 * 60
FRESH_LOGIN_SECONDS = 5 * 60
CONSOLE_TASKS = (HELPDESK, SYSTEM_ADMIN)
OTP_METHOD = "otp"


class ConsoleLoginFailed(errors.BadRequest, code="console.login_failed"):
    """The callback could not be turned into a sign-in (stale, forged, refused)."""


class NotAnOfficer(errors.IspeksError, code="console.not_officer", status=403):
    """The token holds neither Meja Bantuan nor Pentadbir Sistem."""


class TotpNotPassed(errors.IspeksError, code="console.totp_required", status=403):
    """The token does not show the OTP step (amr without "otp")."""


class TaskNotAllowed(errors.IspeksError, code="console.task_not_allowed", status=403):
    """The officer's tasks do not allow this action (Meja Bantuan granting Pelulus)."""


@dataclass(frozen=True)
class Officer:
    """A signed-in console officer, as the token said at sign-in."""

    iss: str
    sub: str
    user_id: str
    name: str
    tasks: tuple[str, ...]
    auth_time: int

    @property
    def is_system_admin(self) -> bool:
        return SYSTEM_ADMIN in self.tasks

    @property
    def is_helpdesk(self) -> bool:
        return HELPDESK in self.tasks

    def fresh_at(self, now: float) -> bool:
        return now - self.auth_time <= FRESH_LOGIN_SECONDS

    def fresh_until(self) -> int:
        return self.auth_time + FRESH_LOGIN_SECONDS

    def record(self) -> dict[str, Any]:
        return {"iss": self.iss, "sub": self.sub, "user_id": self.user_id, "name": self.name,
                "tasks": list(self.tasks), "auth_time": self.auth_time}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "Officer":
        return cls(str(record["iss"]), str(record["sub"]), str(record["user_id"]),
                   str(record.get("name") or ""), tuple(record.get("tasks") or ()),
                   int(record["auth_time"]))


def totp_passed(claims: Mapping[str, Any]) -> bool:
    """True if a verified token's ``amr`` names the OTP step."""
    amr = claims.get("amr") or []
    if isinstance(amr, str):
        amr = [amr]
    return isinstance(amr, list) and OTP_METHOD in amr


def officer_from_claims(claims: Mapping[str, Any]) -> Officer:
    """The officer a verified ID token names; NotAnOfficer / TotpNotPassed if it may not."""
    tasks = tasks_in_claims(claims)
    if not any(task in tasks for task in CONSOLE_TASKS):
        raise NotAnOfficer("no console task in the token")
    if not totp_passed(claims):
        raise TotpNotPassed("the token does not show the OTP step")
    auth_time = claims.get("auth_time")
    if not isinstance(auth_time, (int, float)) or isinstance(auth_time, bool):
        raise ConsoleLoginFailed("ID token without auth_time")
    name = claims.get("name") or " ".join(
        str(claims.get(part) or "") for part in ("given_name", "family_name")).strip()
    return Officer(str(claims["iss"]), str(claims["sub"]),
                   str(claims.get("preferred_username") or ""), str(name), tasks,
                   int(auth_time))


def _now() -> float:
    return current_services().clock.now().timestamp()


def oidc_client() -> OidcClient:
    """The realm's sidecar client (confidential, PKCE), with the console's callback."""
    here = current_context()
    return here.services.oidc.sidecar(here.realm, here.url("tenant.console.callback"), clock=_now)


def signed_in_officer(issuer: str) -> Officer | None:
    """The console's sign-in for ``issuer`` (this realm), or None."""
    record = sessions.current(OFFICER_KEY)
    if record is None or record.get("iss") != issuer:
        return None
    if _now() - record.get("at", 0) > SIGNED_IN_SECONDS:
        return None
    try:
        return Officer.from_record(record)
    except (KeyError, TypeError, ValueError):
        return None


def current_officer() -> Officer:
    """The officer of the current request (inside an ``officer_required`` view)."""
    return g.console_officer


def is_fresh(officer: Officer) -> bool:
    return officer.fresh_at(_now())


def safe_next(candidate: str | None) -> str | None:
    """``candidate`` if it is a path of this realm's console, else None (no open redirect)."""
    base = url_for("tenant.console.index")
    if not candidate or not candidate.startswith(base) or "//" in candidate or "\\" in candidate:
        return None
    return candidate


def officer_required(fresh: bool = False, *, api: bool = False) -> Callable:
    """Only signed-in officers of this realm with TOTP passed; ``fresh``: login <= 5 min.

    ``api``: answer 401 JSON instead of sending the browser to Keycloak.
    """

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            officer = signed_in_officer(oidc_client().issuer)
            here = request.script_root + request.full_path.rstrip("?") \
                if request.method == "GET" else \
                request.form.get("next")
            if officer is None:
                if api:
                    return jsonify({"error": "console.signed_out"}), 401
                return redirect(url_for("tenant.console.login", next=safe_next(here)), 303)
            if fresh and not is_fresh(officer):
                if api:
                    return jsonify({"error": "console.reauth"}), 401
                return redirect(url_for("tenant.console.reauth", next=safe_next(here)), 303)
            g.console_officer = officer
            return view(*args, **kwargs)

        return guarded

    return decorate
