"""Pengurusan Tugas: the modules, task levels and their rules (pure, no I/O).

A task is a client role of the roles-only client ``ispeks-tugas`` (README, "Tasks"):
``<module>:<level>`` (``ac:pelulus``), or one of the two system tasks
``pentadbir-sistem`` and ``meja-bantuan``. ``totp-wajib`` is a marker role: every
``*:pelulus`` role and both system tasks are composites containing it, nobody holds it
directly, and a token carrying it means "this user must use TOTP".

The modules come from the realm templates: ``task_modules`` in defaults.toml, plus a
state's ``extra_task_modules``. Segregation of duties: nobody holds Penyedia and Pelulus
of the same module; ``conflicts`` finds a set of tasks that breaks it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from idp_extension.i18n import Bilingual

CLIENT_ID = "ispeks-tugas"
CLAIM = "tugas"
TOTP_MARKER = "totp-wajib"
PREPARER, CHECKER, APPROVER = "penyedia", "penyemak", "pelulus"
LEVELS = (PREPARER, CHECKER, APPROVER)
LEVEL_NAMES = {
    PREPARER: ("Penyedia", "Preparer"),
    CHECKER: ("Penyemak", "Checker"),
    APPROVER: ("Pelulus", "Approver"),
}
SYSTEM_ADMIN, HELPDESK = "pentadbir-sistem", "meja-bantuan"
SYSTEM_TASKS = {
    SYSTEM_ADMIN: ("Pentadbir Sistem", "System Administrator"),
    HELPDESK: ("Meja Bantuan", "Helpdesk"),
}
MARKER_NAMES = ("TOTP wajib", "TOTP required")
# Levels that may never be held together in one module (segregation of duties).
EXCLUSIVE_LEVELS = frozenset({PREPARER, APPROVER})
MODULE_CODE = re.compile(r"^[a-z][a-z0-9]{0,15}$")
CLIENT_UUID_NAMESPACE = uuid.UUID("0b6f3f5e-6a51-4c1e-9d0a-7e2a4f1c9b12")


def client_uuid(realm: str) -> str:
    """The id ``realms apply`` gives ``ispeks-tugas`` in ``realm``: state IT's credential
    may not list clients (``view-clients`` would show it every client secret), so the
    CLI derives the id instead of looking it up."""
    return str(uuid.uuid5(CLIENT_UUID_NAMESPACE, f"{realm}/{CLIENT_ID}"))


class CatalogueError(ValueError):
    """The values file's task modules are malformed."""


class UnknownTask(ValueError):
    """A module or level that the state's catalogue does not have."""


@dataclass(frozen=True)
class Module(Bilingual):
    """One iSPEKS module whose tasks can be granted (``ac``: Permohonan Tuntutan ...);
    ``text(locale)`` is its name."""

    code: str
    ms: str
    en: str


@dataclass(frozen=True)
class Task:
    """One grantable task: a module and a level, or a system task (``module`` None)."""

    role: str
    module: str | None
    level: str | None

    @property
    def requires_totp(self) -> bool:
        return self.level == APPROVER or self.module is None


def task_role(module: str, level: str) -> str:
    return f"{module}:{level}"


def parse_role(role: str) -> Task | None:
    """Return the task a role name stands for, or None (the marker, anything else)."""
    if role in SYSTEM_TASKS:
        return Task(role, None, None)
    module, sep, level = role.partition(":")
    if sep and level in LEVELS and MODULE_CODE.match(module):
        return Task(role, module, level)
    return None


@dataclass(frozen=True)
class Catalogue:
    """A state's modules, in the order the dashboard shows them."""

    modules: tuple[Module, ...]

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> "Catalogue":
        """Build from merged values: ``task_modules`` then ``extra_task_modules``."""
        where = values.get("_values_file", "values")
        items = list(values.get("task_modules") or []) + list(values.get("extra_task_modules") or [])
        modules: list[Module] = []
        for index, item in enumerate(items):
            if not isinstance(item, Mapping) or set(item) != {"code", "ms", "en"}:
                raise CatalogueError(
                    f"{where}: task module #{index + 1} must have exactly code, ms and en; "
                    f"got {sorted(item) if isinstance(item, Mapping) else item!r}")
            code = str(item["code"])
            if not MODULE_CODE.match(code):
                raise CatalogueError(f"{where}: task module code {code!r} must be lower-case "
                                     f"letters and digits, starting with a letter")
            if any(m.code == code for m in modules):
                raise CatalogueError(f"{where}: task module {code!r} is listed twice")
            if not str(item["ms"]).strip() or not str(item["en"]).strip():
                raise CatalogueError(f"{where}: task module {code!r} needs a Malay and an "
                                     f"English name")
            modules.append(Module(code, str(item["ms"]), str(item["en"])))
        return cls(tuple(modules))

    def module(self, code: str) -> Module | None:
        return next((m for m in self.modules if m.code == code), None)

    def task(self, module: str, level: str | None = None) -> Task:
        """Return the task ``module`` [``level``] names (any case); UnknownTask if none."""
        module = (module or "").strip().lower()
        level = (level or "").strip().lower() or None
        if module in SYSTEM_TASKS:
            if level is not None:
                raise UnknownTask(f"{module} is a task of its own: give no level")
            return Task(module, None, None)
        if self.module(module) is None:
            known = ", ".join([m.code for m in self.modules] + list(SYSTEM_TASKS))
            raise UnknownTask(f"unknown module {module!r} (known: {known})")
        if level not in LEVELS:
            raise UnknownTask(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
        return Task(task_role(module, level), module, level)

    def role_names(self) -> list[str]:
        return [task_role(m.code, level) for m in self.modules for level in LEVELS] + \
            list(SYSTEM_TASKS)

    def describe(self, role: str, locale: str = "ms") -> str:
        """``AC Penyedia (Permohonan Tuntutan Pendahuluan)``; system tasks by name."""
        task = parse_role(role)
        if task is None:
            return role
        en = locale == "en"
        if task.module is None:
            return SYSTEM_TASKS[role][1 if en else 0]
        module = self.module(task.module)
        level = LEVEL_NAMES[task.level][1 if en else 0]
        full = f" ({module.text(locale)})" if module else ""
        return f"{task.module.upper()} {level}{full}"


def role_representations(catalogue: Catalogue) -> list[dict[str, Any]]:
    """The client roles of ``ispeks-tugas`` as realm JSON (attributes, composites)."""
    def role(name: str, ms: str, en: str, totp: bool, **extra: str) -> dict[str, Any]:
        attributes = {"name_ms": [ms], "name_en": [en], **{k: [v] for k, v in extra.items()}}
        rep: dict[str, Any] = {"name": name, "description": en, "composite": totp,
                               "clientRole": True, "attributes": attributes}
        if totp:
            rep["composites"] = {"client": {CLIENT_ID: [TOTP_MARKER]}}
        return rep

    roles = [role(TOTP_MARKER, *MARKER_NAMES, False)]
    for module in catalogue.modules:
        for level in LEVELS:
            level_ms, level_en = LEVEL_NAMES[level]
            roles.append(role(task_role(module.code, level),
                              f"{module.ms} - {level_ms}", f"{module.en} - {level_en}",
                              level == APPROVER, module=module.code, level=level))
    for name, (ms, en) in SYSTEM_TASKS.items():
        roles.append(role(name, ms, en, True))
    return roles


# --- segregation of duties ------------------------------------------------------------

@dataclass(frozen=True)
class Conflict:
    """One module where a user would hold Penyedia and Pelulus together."""

    module: str
    module_ms: str
    module_en: str

    def message(self, user_id: str) -> str:
        """Malay first, then English, naming the person, module and the two levels."""
        code = self.module.upper()
        return (f"Ditolak: {user_id} tidak boleh memegang tugas Penyedia dan Pelulus bagi "
                f"modul yang sama, {code} ({self.module_ms}) (pengasingan tugas). / "
                f"Refused: {user_id} may not hold both Preparer and Approver of the same "
                f"module, {code} ({self.module_en}) (segregation of duties).")


def conflicts(roles: Iterable[str], catalogue: Catalogue | None = None) -> list[Conflict]:
    """The modules where ``roles`` hold every level of EXCLUSIVE_LEVELS, sorted."""
    levels: dict[str, set[str]] = {}
    for role in roles:
        task = parse_role(role)
        if task and task.module:
            levels.setdefault(task.module, set()).add(task.level)
    found = []
    for code in sorted(m for m, held in levels.items() if EXCLUSIVE_LEVELS <= held):
        module = catalogue.module(code) if catalogue else None
        found.append(Conflict(code, module.ms if module else code.upper(),
                              module.en if module else code.upper()))
    return found


# --- tokens ---------------------------------------------------------------------------

def tasks_in_claims(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """The tasks a token's ``tugas`` claim carries, without the TOTP marker, sorted."""
    value = claims.get(CLAIM) or []
    if isinstance(value, str):
        value = [value]
    return tuple(sorted({str(v) for v in value if v != TOTP_MARKER}))


def totp_required_by_claims(claims: Mapping[str, Any]) -> bool:
    """True if the token says its user must sign in with TOTP."""
    value = claims.get(CLAIM) or []
    return TOTP_MARKER in ([value] if isinstance(value, str) else value)


# --- the dashboard --------------------------------------------------------------------

ACTIONS = {PREPARER: "prepare", CHECKER: "check", APPROVER: "approve"}
# Manual 003: the loan module's dashboard shows "Maklumat Pinjaman" beside it.
LOAN_MODULE = "sl"


@dataclass(frozen=True)
class Widget:
    """One module on the dashboard and what the user may do in it."""

    module: Module
    actions: tuple[str, ...]  # prepare / check / approve, in LEVELS order

    @property
    def shows_loan_information(self) -> bool:
        return self.module.code == LOAN_MODULE


@dataclass(frozen=True)
class Dashboard:
    widgets: tuple[Widget, ...]
    administration: bool  # "Pengurusan Pentadbir" in the menu
    helpdesk: bool


def dashboard(catalogue: Catalogue, tasks: Iterable[str]) -> Dashboard:
    """The widgets of the modules the tasks reach, in catalogue order."""
    held = set(tasks)
    widgets = []
    for module in catalogue.modules:
        actions = tuple(ACTIONS[level] for level in LEVELS if task_role(module.code, level) in held)
        if actions:
            widgets.append(Widget(module, actions))
    return Dashboard(tuple(widgets), SYSTEM_ADMIN in held, HELPDESK in held)


@lru_cache(maxsize=64)
def catalogue_for(templates_dir: str, realm: str) -> Catalogue:
    """The catalogue of one state, read from its values (cached per process)."""
    from idp_extension.tenants import load_values  # tenants imports nothing of ours

    return Catalogue.from_values(load_values(Path(templates_dir), realm))
