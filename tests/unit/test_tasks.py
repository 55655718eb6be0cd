"""Pengurusan Tugas, the pure parts: catalogue, roles, segregation, claims, dashboard,
the task file and its plan, and the role diff of realms apply."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from idp_extension.importing.tasks_csv import (
    TaskFileError, import_tasks, plan_tasks, read_task_rows,
)
from idp_extension.realms.client_roles import SYNC_CLIENT_ROLES, desired_roles, diff_client_roles
from idp_extension.realms.render import RenderError, render_realm
from idp_extension.settings import load_settings
from idp_extension.tasks import (
    Catalogue, CatalogueError, UnknownTask, conflicts, dashboard, role_representations,
    tasks_in_claims, totp_required_by_claims,
)
from idp_extension.tenants import load_values

TEMPLATES = Path(__file__).resolve().parents[2] / "realm-templates"


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue.from_values(load_values(TEMPLATES, "pahang"))


def test_the_templates_define_the_five_modules_with_malay_and_english_names(catalogue):
    assert [(m.code, m.ms) for m in catalogue.modules] == [
        ("ac", "Permohonan Tuntutan Pendahuluan"), ("proc", "Permohonan Waran Udara"),
        ("py", "Permohonan Pengecualian Cukai"), ("sl", "Permohonan Pinjaman Kakitangan"),
        ("aim", "Permohonan Aset dan Inventori")]
    assert all(m.en and m.en != m.ms for m in catalogue.modules)


def test_a_state_adds_modules_in_its_values_file():
    values = {**load_values(TEMPLATES, "melaka"),
              "extra_task_modules": [{"code": "gl", "ms": "Lejar Am", "en": "General Ledger"}]}
    catalogue = Catalogue.from_values(values)
    assert catalogue.modules[-1].code == "gl"
    assert "gl:pelulus" in catalogue.role_names()


@pytest.mark.parametrize("extra, problem", [
    ({"code": "AC2", "ms": "x", "en": "y"}, "lower-case"),
    ({"code": "ac", "ms": "x", "en": "y"}, "listed twice"),
    ({"code": "gl", "ms": "Lejar"}, "exactly code, ms and en"),
    ({"code": "gl", "ms": " ", "en": "y"}, "Malay and an English name"),
])
def test_malformed_modules_are_refused_naming_the_problem(extra, problem):
    with pytest.raises(CatalogueError, match=problem):
        Catalogue.from_values({**load_values(TEMPLATES, "pahang"), "extra_task_modules": [extra]})


def test_render_refuses_a_bad_module_naming_the_values_file(tmp_path):
    import shutil

    shutil.copytree(TEMPLATES, tmp_path / "t")
    values = tmp_path / "t" / "values" / "pahang.toml"
    text = values.read_text()
    head, _, tail = text.partition("[[helpdesk]]")
    values.write_text(head + '[[extra_task_modules]]\ncode = "Bad Code"\nms = "x"\nen = "y"\n\n'
                      "[[helpdesk]]" + tail)
    with pytest.raises(RenderError, match="pahang.toml.*Bad Code"):
        render_realm(load_settings(), "pahang", tmp_path / "t")


def test_roles_follow_the_contract(catalogue):
    roles = {r["name"]: r for r in role_representations(catalogue)}

    assert len(roles) == 5 * 3 + 2 + 1
    marked = {name for name, r in roles.items()
              if r.get("composites") == {"client": {"ispeks-tugas": ["totp-wajib"]}}}
    assert marked == {f"{m}:pelulus" for m in ("ac", "proc", "py", "sl", "aim")} | {
        "pentadbir-sistem", "meja-bantuan"}
    assert roles["totp-wajib"]["composite"] is False
    assert roles["sl:penyemak"]["attributes"]["name_ms"] == [
        "Permohonan Pinjaman Kakitangan - Penyemak"]
    assert roles["meja-bantuan"]["attributes"] == {"name_ms": ["Meja Bantuan"],
                                                   "name_en": ["Helpdesk"]}


def test_task_names_are_read_in_any_case_and_system_tasks_take_no_level(catalogue):
    assert catalogue.task("AC", "Pelulus").role == "ac:pelulus"
    assert catalogue.task("pentadbir-sistem").requires_totp
    assert not catalogue.task("py", "penyedia").requires_totp
    with pytest.raises(UnknownTask, match="unknown module 'gl'"):
        catalogue.task("gl", "penyedia")
    with pytest.raises(UnknownTask, match="level must be one of"):
        catalogue.task("ac", None)
    with pytest.raises(UnknownTask, match="give no level"):
        catalogue.task("meja-bantuan", "pelulus")


def test_preparer_and_approver_of_one_module_conflict_and_nothing_else(catalogue):
    assert conflicts({"ac:penyedia", "ac:penyemak", "py:pelulus", "pentadbir-sistem"}) == []
    assert conflicts({"ac:penyemak", "ac:pelulus", "sl:penyedia"}) == []
    (found,) = conflicts({"ac:penyedia", "py:penyedia", "ac:pelulus"}, catalogue)
    message = found.message("900101061234")
    assert message.startswith("Ditolak: 900101061234 tidak boleh memegang tugas Penyedia dan "
                              "Pelulus")
    assert "AC (Permohonan Tuntutan Pendahuluan)" in message
    assert "Refused: 900101061234 may not hold both Preparer and Approver" in message
    assert "AC (Advance Claim Application)" in message


def test_the_claim_gives_tasks_without_the_marker_and_whether_totp_is_required():
    claims = {"tugas": ["py:penyedia", "totp-wajib", "ac:pelulus"]}
    assert tasks_in_claims(claims) == ("ac:pelulus", "py:penyedia")
    assert totp_required_by_claims(claims)
    assert tasks_in_claims({}) == () and not totp_required_by_claims({})
    assert tasks_in_claims({"tugas": "sl:penyedia"}) == ("sl:penyedia",)


def test_the_dashboard_shows_the_reached_modules_with_their_levels_actions(catalogue):
    board = dashboard(catalogue, ["sl:penyedia", "ac:pelulus", "ac:penyemak", "totp-wajib"])

    assert [(w.module.code, w.actions) for w in board.widgets] == [
        ("ac", ("check", "approve")), ("sl", ("prepare",))]
    assert board.widgets[1].shows_loan_information and not board.widgets[0].shows_loan_information
    assert not board.administration
    assert dashboard(catalogue, ["pentadbir-sistem"]).administration
    assert dashboard(catalogue, []).widgets == ()


# --- the task file ----------------------------------------------------------------------

def test_task_rows_keep_line_numbers_and_list_every_reason(catalogue):
    parsed = read_task_rows([
        "\ufeffNo KP,Modul,Tahap",
        "900101-06-1234,AC,Penyedia",
        "",
        ",zz,",
        "900101061234,pentadbir-sistem,",
        "900101061234,sl,boss",
    ], catalogue)

    assert [(r.line, r.user_id, r.task.role) for r in parsed.rows] == [
        (2, "900101061234", "ac:penyedia"), (5, "900101061234", "pentadbir-sistem")]
    assert [(r.line, r.reasons[0][:20]) for r in parsed.rejections] == [
        (4, "missing id"), (6, "level must be one of")]
    assert "unknown module 'zz'" in parsed.rejections[0].reasons[1]


def test_a_file_without_the_columns_is_refused(catalogue):
    with pytest.raises(TaskFileError, match="missing column"):
        read_task_rows(["id,module"], catalogue)
    with pytest.raises(TaskFileError, match="empty file"):
        read_task_rows([], catalogue)


def _rows(catalogue, *lines):
    return read_task_rows(["id,module,level", *lines], catalogue).rows


def test_plan_grants_new_tasks_and_refuses_conflicts_with_held_and_with_other_rows(catalogue):
    rows = _rows(catalogue,
                 "900101061234,ac,pelulus",    # 2: holds ac:penyedia
                 "900101061234,py,penyemak",   # 3
                 "900101061234,py,penyemak",   # 4: same task twice
                 "880202031111,sl,penyedia",   # 5: with line 6
                 "880202031111,sl,pelulus",    # 6
                 "880202031111,sl,penyemak",   # 7
                 "770303101111,ac,penyedia")   # 8: no such user
    plan = plan_tasks(rows, {"900101061234": {"ac:penyedia"}, "880202031111": set()}, catalogue)

    assert plan.grant == {"900101061234": ("py:penyemak",), "880202031111": ("sl:penyemak",)}
    assert [r.line for r in plan.unchanged] == [4]
    assert [r.line for r in plan.rejected] == [2, 5, 6, 8]
    assert "AC (Permohonan Tuntutan Pendahuluan)" in plan.rejected[0].reasons[0]
    assert plan.rejected[3].reasons == ("no user 770303101111 in this state",)


class FakeStore:
    """In-memory ``TaskStore``: users and their direct tasks."""

    realm = "pahang"

    def __init__(self, held: dict[str, set[str]], refuse: set[str] = frozenset()):
        self.held = held
        self.refuse = refuse
        self.requests = 0

    def users(self, user_ids, progress):
        return {u: f"uuid-{u}" for u in user_ids if u in self.held}

    def direct_of_many(self, uuids, progress):
        return {u: set(self.held[u[5:]]) for u in uuids}

    def grant_many(self, grants, progress, failed):
        done = []
        for uuid, names in grants:
            self.requests += 1
            if uuid[5:] in self.refuse:
                failed(uuid, "Keycloak said 400: nope")
                continue
            self.held[uuid[5:]] |= set(names)
            done.append(uuid)
        return done


def test_import_is_idempotent_batched_per_user_and_a_dry_run_writes_nothing(catalogue):
    rows = read_task_rows(["id,module,level", "900101061234,ac,penyedia",
                           "900101061234,sl,penyemak", "880202031111,meja-bantuan,"], catalogue)
    store = FakeStore({"900101061234": set(), "880202031111": set()})

    dry = import_tasks(rows, store, catalogue, dry_run=True)
    assert (dry.granted, dry.unchanged, store.requests) == (3, 0, 0)
    assert store.held == {"900101061234": set(), "880202031111": set()}

    seen = []
    first = import_tasks(rows, store, catalogue, granted=lambda u, r: seen.append((u, r)))
    assert (first.granted, first.unchanged, first.users, store.requests) == (3, 0, 2, 2)
    assert sorted(seen) == [("880202031111", ("meja-bantuan",)),
                            ("900101061234", ("ac:penyedia", "sl:penyemak"))]
    second = import_tasks(rows, store, catalogue)
    assert (second.granted, second.unchanged, store.requests) == (0, 3, 2)
    assert second.complete and second.line() == "pahang: granted 0, unchanged 3, rejected 0"


def test_a_user_keycloak_refuses_is_listed_by_line_and_the_others_go_in(catalogue):
    rows = read_task_rows(["id,module,level", "900101061234,ac,penyedia",
                           "880202031111,ac,penyedia"], catalogue)
    store = FakeStore({"900101061234": set(), "880202031111": set()}, refuse={"880202031111"})
    summary = import_tasks(rows, store, catalogue)
    assert summary.granted == 1 and not summary.complete
    assert summary.problems() == ["line 3 (880202031111): not written: Keycloak said 400: nope"]


# --- realms apply: the roles' diff ---------------------------------------------------------

@pytest.fixture
def desired() -> dict:
    return render_realm(load_settings(), "pahang", TEMPLATES)


def test_matching_roles_plan_nothing_and_missing_ones_are_created(desired):
    assert diff_client_roles(desired, desired_roles(desired)) == ([], [])
    changes, (op,) = diff_client_roles(desired, {})
    assert op.kind == SYNC_CLIENT_ROLES and op.target == "ispeks-tugas"
    assert len(op.payload["create"]) == 18 and len(changes) == 18 + 7
    assert op.payload["composites"]["ac:pelulus"] == {"add": ["totp-wajib"], "remove": []}


def test_drifted_roles_are_put_back_and_roles_outside_the_template_are_left(desired):
    current = copy.deepcopy(desired_roles(desired))
    tugas = current["ispeks-tugas"]
    tugas["ac:penyedia"]["attributes"] = {}
    tugas["ac:pelulus"]["composites"] = []
    tugas["py:penyedia"]["composites"] = ["totp-wajib"]
    tugas["old:pelulus"] = {"description": "", "attributes": {}, "composites": ["totp-wajib"]}

    changes, (op,) = diff_client_roles(desired, current)

    assert sorted(c.line() for c in changes) == [
        "roles.ispeks-tugas.ac:pelulus.composites: add 'totp-wajib'",
        "roles.ispeks-tugas.ac:penyedia: "
        + changes[[c.path for c in changes].index("roles.ispeks-tugas.ac:penyedia")].line()
        .split(": ", 1)[1],
        "roles.ispeks-tugas.py:penyedia.composites: remove 'totp-wajib'",
    ]
    assert [r["name"] for r in op.payload["update"]] == ["ac:penyedia"]
    assert op.payload["composites"] == {"ac:pelulus": {"add": ["totp-wajib"], "remove": []},
                                        "py:penyedia": {"add": [], "remove": ["totp-wajib"]}}


def test_the_demo_users_tasks_exist_in_every_state_and_break_no_rule():
    from idp_extension.demo_users import demo_tasks

    for state in ("pahang", "kelantan", "selangor", "melaka"):
        catalogue = Catalogue.from_values(load_values(TEMPLATES, state))
        spread = demo_tasks(state, 5)
        assert len(spread) == 6 and spread[-1]
        for held in spread:
            assert set(held) <= set(catalogue.role_names())
            assert conflicts(held) == []


# --- the OIDC kit and the demo portal's dashboard -------------------------------------------

def test_the_kits_tokens_expose_tasks_and_totp_required():
    from idp_extension.gateway.oidc import Tokens

    tokens = Tokens("id", "access", None, {"tugas": ["sl:pelulus", "totp-wajib"]},
                    {"tugas": ["sl:pelulus", "totp-wajib"]})
    assert tokens.tasks == ("sl:pelulus",) and tokens.totp_required
    plain = Tokens("id", "access", None, {"tugas": ["sl:penyedia"]}, {})
    assert plain.tasks == ("sl:penyedia",) and not plain.totp_required


@pytest.mark.parametrize("tasks, modules, actions, admin", [
    (["ac:penyedia", "sl:penyedia"], ["ac", "sl"], {"prepare"}, False),
    (["proc:pelulus", "proc:penyemak", "pentadbir-sistem"], ["proc"], {"approve", "check"}, True),
    ([], [], set(), False),
])
def test_the_dashboard_page_shows_the_modules_and_actions_of_the_tasks(
        monkeypatch, tasks, modules, actions, admin):
    import re

    from idp_extension.audit import MemoryAuditLog
    from idp_extension.mail.sender import MemoryMailSender
    from idp_extension.tenants import load_tenants
    from idp_extension.web import Services, create_app
    from idp_extension.web import portal

    settings = load_settings({}).with_overrides(demo_portal=True)
    app = create_app(settings, tenants=load_tenants(settings.realm_templates_dir),
                     services=Services(audit=MemoryAuditLog(), mail=MemoryMailSender()))
    app.config["TESTING"] = True
    user = {"name": "AMINAH BINTI OSMAN", "username": "900101061234",
            "department": "Jabatan Kerja Raya", "tasks": tasks}
    monkeypatch.setattr(portal, "signed_in_user", lambda: user)
    client = app.test_client()

    body = client.get("/pahang/portal/dashboard").get_data(as_text=True)

    assert re.findall(r'data-module="(\w+)"', body) == modules
    assert set(re.findall(r'data-action="(\w+)"', body)) == actions
    assert ('data-menu="administration"' in body) is admin
    assert "Nama dan Jabatan" in body and "Jabatan Kerja Raya" in body
    if "ac" in modules:
        assert "Permohonan Tuntutan Pendahuluan (AC)" in body and "Sediakan Permohonan" in body
    if "sl" in modules:
        assert "Maklumat Pinjaman" in body
    if admin:
        assert "Pengurusan Pentadbir" in body
    if not modules:
        assert 'data-widget="no-tasks"' in body
    english = client.get("/pahang/portal/dashboard?lang=en").get_data(as_text=True)
    assert "Name and Department" in english
    if "proc" in modules:
        assert "Air Warrant Application (PROC)" in english and "Approve applications" in english
        assert "Administrator Management" in english


# --- the command line (no Keycloak: refused before any request) -------------------------------

def _cli(*args):
    from click.testing import CliRunner

    from idp_extension.cli import main

    return CliRunner().invoke(main, list(args), obj=load_settings({}), catch_exceptions=False)


def test_users_tasks_with_an_id_shows_and_with_import_imports():
    shown = _cli("users", "tasks", "--state", "nowhere", "900101061234")
    assert shown.exit_code == 2 and "unknown state 'nowhere'" in shown.output
    imported = _cli("users", "tasks", "import", "--state", "pahang", "/no/such.csv")
    assert imported.exit_code == 2 and "does not exist" in imported.output


@pytest.mark.parametrize("args, message", [
    (("ac",), "level must be one of"),
    (("ac", "boss"), "level must be one of"),
    (("gl", "penyedia"), "unknown module 'gl'"),
    (("meja-bantuan", "pelulus"), "give no level"),
])
def test_assign_refuses_an_unknown_task_before_asking_keycloak(args, message):
    result = _cli("users", "assign", "--state", "pahang", "900101061234", *args)
    assert result.exit_code == 2 and message in result.output
