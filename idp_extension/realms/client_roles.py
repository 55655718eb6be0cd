"""Plan the client roles a template declares (``roles.client``), idempotently. Pure.

Used for the tasks of ``ispeks-tugas`` (idp_extension/tasks.py). A role of the template
is created if missing, its description and attributes are made to match, and its
composites (roles of the same client) are made exactly the template's. Roles the template
does not name are left alone: deleting a role would silently take it from everyone who
holds it, with no audit record of who lost what (README, "Tasks": a module removed from
the values keeps its roles until state IT has revoked them).
"""

from __future__ import annotations

from typing import Any, Mapping

from idp_extension.realms.changes import Change, Operation

SYNC_CLIENT_ROLES = "sync_client_roles"


def role_state(rep: Mapping[str, Any], composites: list[str] | None = None) -> dict[str, Any]:
    """What is compared of one role: description, attributes, same-client composites."""
    return {
        "description": rep.get("description") or "",
        "attributes": {k: list(v) for k, v in sorted((rep.get("attributes") or {}).items())},
        "composites": sorted(composites or []),
    }


def desired_roles(desired: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """clientId -> role name -> ``role_state`` of the template's client roles."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for client_id, roles in ((desired.get("roles") or {}).get("client") or {}).items():
        found[client_id] = {
            rep["name"]: role_state(rep, ((rep.get("composites") or {}).get("client") or {})
                                    .get(client_id, []))
            for rep in roles
        }
    return found


def diff_client_roles(desired: Mapping[str, Any],
                      current: Mapping[str, Mapping[str, Mapping[str, Any]]]
                      ) -> tuple[list[Change], list[Operation]]:
    """Compare the template's client roles with ``current`` (clientId -> name -> state)."""
    changes: list[Change] = []
    operations: list[Operation] = []
    for client_id, wanted in desired_roles(desired).items():
        have = current.get(client_id) or {}
        create, update, composites = [], [], {}
        for name, want in wanted.items():
            path = f"roles.{client_id}.{name}"
            existing = have.get(name)
            if existing is None:
                changes.append(Change(path, "create"))
                create.append({"name": name, "description": want["description"],
                               "attributes": want["attributes"]})
                before: list[str] = []
            else:
                if (existing["description"], existing["attributes"]) != (
                        want["description"], want["attributes"]):
                    changes.append(Change(path, "update",
                                          {k: existing[k] for k in ("description", "attributes")},
                                          {k: want[k] for k in ("description", "attributes")}))
                    update.append({"name": name, "description": want["description"],
                                   "attributes": want["attributes"]})
                before = existing["composites"]
            add = sorted(set(want["composites"]) - set(before))
            remove = sorted(set(before) - set(want["composites"]))
            changes += [Change(f"{path}.composites", "add", after=r) for r in add]
            changes += [Change(f"{path}.composites", "remove", after=r) for r in remove]
            if add or remove:
                composites[name] = {"add": add, "remove": remove}
        if create or update or composites:
            operations.append(Operation(SYNC_CLIENT_ROLES, client_id, {
                "create": create, "update": update, "composites": composites}))
    return changes, operations
