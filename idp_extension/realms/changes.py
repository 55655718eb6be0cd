"""The two units a realm plan is made of: a readable change and a gateway write. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Change:
    """One human-readable difference between the template and Keycloak."""

    path: str
    action: str = "update"  # update | create | add | remove | rebuild | resend
    before: Any = None
    after: Any = None

    def line(self) -> str:
        if self.action == "update":
            return f"{self.path}: {_show(self.before)} -> {_show(self.after)}"
        if self.action == "rebuild":
            return f"{self.path}: rebuild [{self.before}] -> [{self.after}]"
        if self.after is not None and self.action != "create":
            return f"{self.path}: {self.action} {_show(self.after)}"
        return f"{self.path}: {self.action}"


@dataclass(frozen=True)
class Operation:
    """One write the gateway performs; ``target`` is an alias, id or clientId."""

    kind: str
    target: str = ""
    payload: Any = None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 160 else text[:157] + "..."
