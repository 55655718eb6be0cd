"""Declared dependencies match what the code imports; the lock file pins them with hashes."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from idp_extension.settings import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "idp_extension"
LOCK = PROJECT_ROOT / "requirements" / "lock.txt"
RUNTIME_LOCK = PROJECT_ROOT / "requirements" / "runtime.txt"
PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
# Needed to develop or test, never to run: not in the runtime set.
DEVELOPMENT_ONLY = {"pytest", "pytest-timeout", "playwright", "aiosmtpd", "pip-audit",
                    "pip-tools", "uv"}


def _requirements(entries: list[str]) -> dict[str, Requirement]:
    parsed = (Requirement(entry) for entry in entries)
    return {canonicalize_name(req.name): req for req in parsed}


RUNTIME = _requirements(PYPROJECT["dependencies"])
EXTRAS = {name: _requirements(entries)
          for name, entries in PYPROJECT["optional-dependencies"].items()}


def _imports() -> list[tuple[str, bool, str]]:
    """(top-level module, imported at module level?, file) for every absolute import."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        module_level = {id(node) for node in tree.body}
        # Imports under `if TYPE_CHECKING:` never run.
        type_only = {id(inner) for node in tree.body if isinstance(node, ast.If)
                     and "TYPE_CHECKING" in ast.unparse(node.test) for inner in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "idp_extension" and top not in sys.stdlib_module_names:
                    found.append((top, id(node) in module_level, str(path.relative_to(PROJECT_ROOT))))
    return found


def _distributions(module: str) -> set[str]:
    return {canonicalize_name(d) for d in packages_distributions().get(module, [])}


IMPORTS = _imports()


def test_the_scan_sees_the_known_imports():
    modules = {module for module, _, _ in IMPORTS}
    assert {"flask", "werkzeug", "click", "itsdangerous", "limits", "keycloak", "jwcrypto",
            "aiosmtpd"} <= modules


@pytest.mark.parametrize("module, at_module_level, where", IMPORTS,
                         ids=[f"{m}@{w}" for m, _, w in IMPORTS])
def test_every_import_maps_to_a_declared_dependency(module, at_module_level, where):
    distributions = _distributions(module)
    assert distributions, f"{where}: {module!r} is not installed from any distribution"
    if at_module_level:
        assert distributions & set(RUNTIME), (
            f"{where} imports {module!r} at load time: declare {sorted(distributions)} in "
            f"[project] dependencies")
    else:
        # A lazy import may be of an optional extra (the dev inbox's aiosmtpd, redis).
        declared = set(RUNTIME).union(*EXTRAS.values())
        assert distributions & declared, f"{where}: {module!r} is declared nowhere"


def test_development_only_packages_are_not_runtime_dependencies():
    assert not DEVELOPMENT_ONLY & set(RUNTIME)
    assert "aiosmtpd" in EXTRAS["dev"]
    assert {"pytest", "playwright", "pip-audit"} <= set(EXTRAS["test"])


def test_the_dev_inbox_imports_aiosmtpd_only_when_started():
    assert all(not level for module, level, _ in IMPORTS if module == "aiosmtpd")


def _lock(path: Path = LOCK) -> dict[str, tuple[Version, list[str]]]:
    pins: dict[str, tuple[Version, list[str]]] = {}
    text = path.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("--") else line
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)\s*(.*)$", line)
        if match:
            hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", match.group(3))
            pins[canonicalize_name(match.group(1))] = (Version(match.group(2)), hashes)
    return pins


def test_the_lock_pins_every_package_with_hashes_and_nothing_local():
    pins = _lock()
    text = LOCK.read_text()

    assert len(pins) > 30
    assert all(hashes for _, hashes in pins.values()), [n for n, (_, h) in pins.items() if not h]
    assert "file://" not in text and "ispeks-idp" not in pins and " -e " not in text


def test_the_lock_covers_the_runtime_and_every_extra_within_their_floors():
    pins = _lock()
    for name, requirement in {**RUNTIME, **{k: v for e in EXTRAS.values() for k, v in e.items()}
                              }.items():
        assert name in pins, f"{name} is declared but not in {LOCK.name}: run pip-compile again"
        assert requirement.specifier.contains(pins[name][0], prereleases=True), (
            f"{LOCK.name} pins {name}=={pins[name][0]} outside {requirement}")


def test_the_production_lock_is_the_runtime_set_pinned_as_in_the_full_lock():
    everything, runtime = _lock(), _lock(RUNTIME_LOCK)

    assert all(hashes for _, hashes in runtime.values())
    assert set(RUNTIME) | set(EXTRAS["production"]) <= set(runtime)
    assert not DEVELOPMENT_ONLY & set(runtime)
    assert not {"pytest", "playwright", "aiosmtpd"} & set(runtime)
    assert {name: version for name, (version, _) in runtime.items()} == {
        name: everything[name][0] for name in runtime}
