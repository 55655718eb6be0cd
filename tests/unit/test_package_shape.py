"""The package's shape: flows are peers on one shared level, and no module imports in a
circle. Read from the source with ``ast`` (nothing is imported), lazy imports included;
``if TYPE_CHECKING:`` blocks are left out (they never run)."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from idp_extension.flows import answers, identifiers, password_rules, phrases
from idp_extension.flows.texts import MESSAGES
from idp_extension.errors import IspeksError
from idp_extension.i18n import SUPPORTED_LOCALES

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "idp_extension"
PACKAGE = "idp_extension"
# The shared flow level: what every flow may import. Any other module of flows/ is a
# flow, and no flow imports another.
SHARED_FLOW_LEVEL = frozenset({
    "common", "emailed_link", "identifiers", "phrases", "answers", "password_rules",
    "tokens", "notifications", "phrase_decoys", "ports", "texts",
})


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PACKAGE_DIR.rglob("*.py")}


def _imports(name: str, path: Path) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in the file."""
    tree = ast.parse(path.read_text("utf-8"))
    type_only = {id(n) for node in ast.walk(tree)
                 if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                 for statement in node.body for n in ast.walk(statement)}
    named: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: None if path.name == "__init__.py" else -1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # ``from package import submodule`` imports the submodule.
            named.update(f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module
                         for a in node.names)
    found = set()
    for module in named:
        while module and module not in MODULES:
            module = module.rpartition(".")[0]
        if module and module != name:
            found.add(module)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_sees_lazy_imports_and_cycles():
    # The reader itself: a lazy import counts, a TYPE_CHECKING one does not.
    assert "idp_extension.shared_state" in GRAPH["idp_extension.settings"]
    assert "idp_extension.settings" not in GRAPH["idp_extension.shared_state"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_in_the_package():
    assert _cycles(GRAPH) == []


def test_flows_are_peers_on_one_shared_level():
    flows = {name for name in MODULES
             if name.startswith(f"{PACKAGE}.flows.") and name.count(".") == 2}
    shared = {f"{PACKAGE}.flows.{name}" for name in SHARED_FLOW_LEVEL}
    assert shared <= flows, "a shared module named here no longer exists"
    peers = flows - shared
    assert {"activation", "recovery", "first_login", "settings", "site_key"} <= {
        name.rsplit(".", 1)[1] for name in peers}
    for flow in sorted(peers):
        assert not GRAPH[flow] & peers, f"{flow} imports another flow: {GRAPH[flow] & peers}"
    for module in sorted(shared):
        assert not GRAPH[module] & peers, f"shared {module} imports a flow: {GRAPH[module] & peers}"


def test_flows_import_neither_flask_nor_the_web_layer():
    for name, path in MODULES.items():
        if name.startswith(f"{PACKAGE}.flows"):
            text = path.read_text("utf-8")
            assert not re.search(r"^\s*(from|import) flask\b", text, re.M), name
            assert not {m for m in GRAPH[name] if m.startswith(f"{PACKAGE}.web")}, name


def test_every_attribute_name_is_spelt_in_one_module():
    # gateway, flows and realms/profile.py take the names from idp_extension/attributes.py.
    for name, path in MODULES.items():
        if name == f"{PACKAGE}.attributes":
            continue
        literals = re.findall(r"[\"'](ispeks_(?:activation_state|security_answers|secret_phrase|"
                              r"image_id|nonce_\w+|temp_password_\w+|recovery_failures|"
                              r"profile_version))[\"']", path.read_text("utf-8"))
        assert not literals, f"{name} spells {literals}: use idp_extension.attributes"


# -- messages -------------------------------------------------------------------------


def test_every_flow_message_exists_in_malay_and_english():
    assert set(SUPPORTED_LOCALES) == set(MESSAGES)
    assert MESSAGES["ms"].keys() == MESSAGES["en"].keys()
    for locale in SUPPORTED_LOCALES:
        assert all(text.strip() for text in MESSAGES[locale].values())


def test_the_flow_messages_cannot_be_changed_at_run_time():
    with pytest.raises(TypeError):
        MESSAGES["ms"]["error.validation_failed"] = "x"  # type: ignore[index]


def _error_classes() -> list[type[IspeksError]]:
    seen, todo = [], [IspeksError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            seen.append(sub)
            todo.append(sub)
    return seen


def test_every_flow_error_code_has_a_sentence_and_a_heading():
    for name in MODULES:  # every flow module declares its errors
        if name.startswith(f"{PACKAGE}.flows."):
            importlib.import_module(name)

    codes = {cls.code for cls in _error_classes()
             if cls.__module__.startswith(f"{PACKAGE}.flows.") and "code" in cls.__dict__}
    assert len(codes) > 20
    for code in codes:
        for locale in SUPPORTED_LOCALES:
            assert code in MESSAGES[locale], (code, locale)
            assert f"{code}.title" in MESSAGES[locale], (code, locale)


def test_every_field_error_key_has_a_sentence():
    keys = {rule.message_key for rule in password_rules.RULES}
    keys |= {password_rules.POLICY_HISTORY, password_rules.POLICY_USERNAME,
             password_rules.POLICY_OTHER}
    keys |= {getattr(answers, n) for n in ("COUNT", "UNKNOWN", "DUPLICATE", "ANSWER_REQUIRED",
                                            "ANSWER_TOO_SHORT", "ANSWER_TOO_LONG")}
    keys |= {getattr(phrases, n) for n in dir(phrases)
             if n.startswith(("PHRASE_", "IMAGE_")) and isinstance(getattr(phrases, n), str)
             and getattr(phrases, n).startswith("first_login.")}
    keys |= {identifiers.InvalidLoginIdError.code, identifiers.InvalidEmailError.code}
    for key in keys:
        for locale in SUPPORTED_LOCALES:
            assert key in MESSAGES[locale], (key, locale)


@pytest.mark.parametrize("key, number", [
    ("password.rule.length", password_rules.MIN_LENGTH),
    ("password.rule.max_length", password_rules.MAX_LENGTH),
    (answers.ANSWER_TOO_SHORT, answers.MIN_ANSWER_LENGTH),
    (answers.ANSWER_TOO_LONG, answers.MAX_ANSWER_LENGTH),
    (phrases.PHRASE_TOO_SHORT, phrases.MIN_PHRASE_LENGTH),
    (phrases.PHRASE_TOO_LONG, phrases.MAX_PHRASE_LENGTH),
])
def test_the_sentences_name_the_limits_the_code_applies(key, number):
    for locale in SUPPORTED_LOCALES:
        assert re.findall(r"\d+", MESSAGES[locale][key]) == [str(number)], (key, locale)


MAIL_TEMPLATES = PACKAGE_DIR / "mail" / "templates"


def _mail_keys() -> set[str]:
    """Every catalogue key the mail templates ask for; a key built from ``change``
    (``"mail.security_change." ~ change ~ ".title"``) once per security change."""
    from idp_extension.flows.notifications import CHANGES

    keys: set[str] = set()
    for template in MAIL_TEMPLATES.rglob("*.*"):
        source = template.read_text("utf-8")
        keys |= set(re.findall(r'"(mail\.[\w.]+)"', source)) - {"mail.security_change."}
        for part in re.findall(r'"mail\.security_change\." ~ change ~ "\.(\w+)"', source):
            keys |= {f"mail.security_change.{change}.{part}" for change in CHANGES}
    return keys


def test_every_mail_sentence_exists_in_malay_and_english_and_is_used():
    used = _mail_keys()
    assert len(used) > 50
    for locale in SUPPORTED_LOCALES:
        assert used - MESSAGES[locale].keys() == set(), locale
        assert {k for k in MESSAGES[locale] if k.startswith("mail.")} == used, locale
