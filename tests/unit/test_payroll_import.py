"""Reading a payroll CSV: columns, date formats, IDs with dashes, rejections by line."""

from __future__ import annotations

import io
from datetime import datetime

import pytest

from idp_extension.importing.payroll_csv import (
    PayrollFileError, Rejection, parse_payroll_csv, parse_registration_date, read_payroll_file,
    terminal_safe,
)
from idp_extension.settings import Settings
from idp_extension.tenants import load_tenant

HEADER = "id,name,email,department,registration_date\n"
# Valid made-up MyKad numbers (real dates, Melaka's place code 04).
ID_A, ID_B, ID_C = "850101045551", "900215045012", "781130045338"


@pytest.fixture(scope="module")
def melaka():
    return load_tenant(Settings().realm_templates_dir, "melaka")


def parse(text: str, tenant):
    return parse_payroll_csv(io.StringIO(text), tenant)


def reasons_by_line(parsed) -> dict[int, tuple[str, ...]]:
    return {r.line: r.reasons for r in parsed.rejections}


def test_a_valid_row_becomes_a_normalised_record(melaka):
    parsed = parse(HEADER + f"{ID_A},  Aminah   binti Abu ,Aminah.Abu@MELAKA.gov.my , "
                            f"Jabatan  Kerja Raya,2026-01-05T09:30:00\n", melaka)

    assert parsed.rejections == ()
    (row,) = parsed.rows
    assert row.line == 2
    assert row.record.user_id == ID_A
    assert row.record.name == "Aminah binti Abu"
    assert row.record.email == "aminah.abu@melaka.gov.my"
    assert row.record.department == "Jabatan Kerja Raya"
    assert row.record.registration_date == datetime(2026, 1, 5, 9, 30)


def test_ids_with_and_without_dashes_are_the_same_id(melaka):
    dashed = f"{ID_A[:6]}-{ID_A[6:8]}-{ID_A[8:]}"
    parsed = parse(HEADER + f"{dashed},A,a@melaka.gov.my,D,2026-01-05\n"
                            f"{ID_B},B,b@melaka.gov.my,D,2026-01-05\n", melaka)

    assert [r.record.user_id for r in parsed.rows] == [ID_A, ID_B]


@pytest.mark.parametrize("raw, expected", [
    ("2026-01-05", datetime(2026, 1, 5)),
    ("2026-01-05T09:30:15", datetime(2026, 1, 5, 9, 30, 15)),
    ("2026-01-05 09:30:15.250", datetime(2026, 1, 5, 9, 30, 15)),
    ("2026-01-05T01:30:00+00:00", datetime(2026, 1, 5, 9, 30)),  # UTC -> Malaysian time
    ("14/09/2020 11:50:04 AM", datetime(2020, 9, 14, 11, 50, 4)),
    ("14/09/2020 11:50:04 PM", datetime(2020, 9, 14, 23, 50, 4)),
    ("14/09/2020 11:50:04 pm", datetime(2020, 9, 14, 23, 50, 4)),
    ("14/09/2020 23:50", datetime(2020, 9, 14, 23, 50)),
    ("14/09/2020", datetime(2020, 9, 14)),
])
def test_registration_dates_in_iso_and_in_the_manuals_format(raw, expected):
    assert parse_registration_date(raw) == expected


def test_header_names_are_matched_loosely_and_extra_columns_ignored(melaka):
    text = ("No KP,Nama,Emel,Gred,Jabatan,Tarikh Pendaftaran\n"
            f"{ID_A},Aminah,a@melaka.gov.my,N41,Perbendaharaan,05/01/2026 09:00:00 AM\n")

    (row,) = parse(text, melaka).rows

    assert (row.record.user_id, row.record.department) == (ID_A, "Perbendaharaan")


def test_a_missing_column_stops_the_file_before_anything_is_read(melaka):
    with pytest.raises(PayrollFileError, match="missing column.*department"):
        parse("id,name,email,registration_date\n", melaka)


def test_an_empty_file_is_refused(melaka):
    with pytest.raises(PayrollFileError, match="empty"):
        parse("", melaka)


def test_each_bad_row_is_reported_with_its_own_line_number(melaka):
    text = (HEADER
            + f"{ID_A},Good One,a@melaka.gov.my,D,2026-01-05\n"          # 2: fine
            + "12345,Short Id,s@melaka.gov.my,D,2026-01-05\n"             # 3
            + "851301045551,Bad Month,m@melaka.gov.my,D,2026-01-05\n"     # 4: no 13th month
            + f"{ID_B},,n@melaka.gov.my,D,2026-01-05\n"                   # 5: no name
            + f"{ID_C},Outsider,o@gmail.com,D,2026-01-05\n"               # 6
            + "\n"                                                          # 7: blank, skipped
            + "910101045553,Next Door,p@gov.my,D,2026-01-05\n"            # 8: not melaka's
            + "920202045554,No Mail,,D,2026-01-05\n"                      # 9
            + "930303045555,No Dept,q@melaka.gov.my,,2026-01-05\n"        # 10
            + "940404045556,Bad Date,r@melaka.gov.my,D,31/02/2026\n"      # 11
            + "950505045557,Not Mail,not-an-address,D,2026-01-05\n")      # 12

    parsed = parse(text, melaka)

    assert [r.line for r in parsed.rows] == [2]
    reasons = reasons_by_line(parsed)
    assert sorted(reasons) == [3, 4, 5, 6, 8, 9, 10, 11, 12]
    assert reasons[3][0].startswith("malformed ID")
    assert reasons[4][0].startswith("malformed ID")
    assert reasons[5] == ("missing name",)
    assert "outside melaka's domains (melaka.gov.my)" in reasons[6][0]
    assert "outside melaka's domains" in reasons[8][0]
    assert reasons[9] == ("missing email",)
    assert reasons[10] == ("missing department",)
    assert reasons[11][0].startswith("unreadable registration date '31/02/2026'")
    assert reasons[12][0].startswith("malformed email")
    assert parsed.total == 10


@pytest.mark.parametrize("email", [
    "boss,x@melaka.gov.my",                      # two recipients in a To header
    "evil@example.com, x@melaka.gov.my",         # the last domain is melaka's, the first not
    "evil@example.com;x@melaka.gov.my",
    "Boss <x@melaka.gov.my>",                    # a display name
    "x@melaka.gov.my <evil@example.com>",
    '"a@b"@melaka.gov.my',                       # a quoted local part
    '"boss x"@melaka.gov.my',
    "a@b@melaka.gov.my",                          # two @
    "x%evil.example@melaka.gov.my",               # percent routing
    "a..b@melaka.gov.my", ".a@melaka.gov.my",
    "x(comment)@melaka.gov.my",
    "x@[10.0.0.1]", "x@melaka", "x@melaka.gov.my.",
    "pengguna@mélaka.gov.my",
])
def test_an_email_must_be_exactly_one_plain_address(melaka, email):
    parsed = parse(HEADER + f'{ID_A},Ali,"{email.replace(chr(34), chr(34) * 2)}",D,2026-01-05\n',
                   melaka)

    assert parsed.rows == ()
    (reason,) = parsed.rejections[0].reasons
    assert reason.startswith("malformed email") and "exactly one plain address" in reason


@pytest.mark.parametrize("email", ["ali.abu@melaka.gov.my", "o'neil+gaji@jkr.melaka.gov.my",
                                   "ali_abu-2@MELAKA.GOV.MY"])
def test_plain_official_addresses_are_taken(melaka, email):
    parsed = parse(HEADER + f"{ID_A},Ali,{email},D,2026-01-05\n", melaka)

    assert parsed.rejections == ()
    assert parsed.rows[0].record.email == email.lower()


def test_rejected_values_reach_the_terminal_escaped(melaka):
    # An ID cell that clears the screen, a bidi override and a line break in the email,
    # a C1 control sequence introducer in the name.
    text = (HEADER
            + '"\x1b[2J\x1b[31m8501\u202e01045551",Ali,"a@melaka.gov.my\r\nX: y",D,2026-01-05\n'
            + f"{ID_B},Ali\x9b31mAbu,b@melaka.gov.my,D,2026-01-05\n")

    parsed = parse(text, melaka)
    messages = [r.message() for r in parsed.rejections]

    assert len(messages) == 2
    for message in messages:
        assert all(c == " " or c.isprintable() for c in message), repr(message)
    assert messages[0].startswith("line 2 (\\x1b[2J\\x1b[31m8501\\u202e01045551): ")
    assert "name contains invisible or control characters: '\\x9b'" in messages[1]


def test_terminal_safe_keeps_every_script_and_escapes_the_rest():
    assert terminal_safe("Nur Ālīyah 李 🍰 A/L") == "Nur Ālīyah 李 🍰 A/L"
    assert terminal_safe("a\x00b\x1bc\x7fd\u2066e\u200ff\u2028g") == (
        "a\\x00b\\x1bc\\x7fd\\u2066e\\u200ff\\u2028g")
    rejection = Rejection(7, "\x1b]0;owned\x07", ("missing name",))
    assert rejection.message() == "line 7 (\\x1b]0;owned\\x07): missing name"


def test_a_row_with_several_problems_lists_them_all(melaka):
    parsed = parse(HEADER + "123,,x@gmail.com,,someday\n", melaka)

    (rejection,) = parsed.rejections
    assert rejection.line == 2
    assert rejection.raw_id == "123"
    assert len(rejection.reasons) == 5
    assert rejection.message().startswith("line 2 (123): malformed ID")


def test_a_lost_leading_zero_gets_a_hint(melaka):
    parsed = parse(HEADER + "10203045551,Young,y@melaka.gov.my,D,2026-01-05\n", melaka)

    assert "leading zero" in parsed.rejections[0].reasons[0]


def test_names_keycloak_would_refuse_later_are_rejected_now(melaka):
    # Partial import does not validate; a later update (activation) would fail.
    parsed = parse(HEADER + f'{ID_A},"Raju <Muthu>",r@melaka.gov.my,D,2026-01-05\n'
                            f"{ID_B},Ali @ Abu,a@melaka.gov.my,D,2026-01-05\n"
                            f"{ID_C},Siti\x01Aminah,s@melaka.gov.my,D,2026-01-05\n", melaka)

    assert reasons_by_line(parsed)[2] == ("name contains characters Keycloak refuses: < >",)
    assert reasons_by_line(parsed)[4] == ("name contains characters Keycloak refuses: '\\x01'",)
    assert [r.record.name for r in parsed.rows] == ["Ali @ Abu"]


def test_malaysian_names_with_a_slash_are_taken(melaka):
    parsed = parse(HEADER + f'{ID_A},"Raju A/L Muthu",r@melaka.gov.my,D,2026-01-05\n'
                            f'{ID_B},"Kavitha A/P Raman",k@melaka.gov.my,D,2026-01-05\n', melaka)

    assert parsed.rejections == ()
    assert [r.record.name for r in parsed.rows] == ["Raju A/L Muthu", "Kavitha A/P Raman"]


def test_values_longer_than_the_user_profile_allows_are_rejected(melaka):
    parsed = parse(HEADER + f"{ID_A},{'N' * 256},a@melaka.gov.my,{'D' * 256},2026-01-05\n",
                   melaka)

    assert reasons_by_line(parsed)[2] == ("name longer than 255 characters",
                                          "department longer than 255 characters")


def test_every_line_of_a_duplicated_id_is_rejected_and_names_the_others(melaka):
    dashed = f"{ID_A[:6]}-{ID_A[6:8]}-{ID_A[8:]}"
    text = (HEADER
            + f"{ID_A},First,a1@melaka.gov.my,D,2026-01-05\n"      # 2
            + f"{ID_B},Other,b@melaka.gov.my,D,2026-01-05\n"       # 3
            + f"{dashed},Second,a2@melaka.gov.my,D,2026-01-05\n"   # 4: same ID, dashed
            + f"{ID_A},Third,,D,2026-01-05\n")                      # 5: also bad itself

    parsed = parse(text, melaka)

    assert [r.line for r in parsed.rows] == [3]
    reasons = reasons_by_line(parsed)
    assert reasons[2] == (f"duplicate ID {ID_A}: also on lines 4, 5",)
    assert reasons[4] == (f"duplicate ID {ID_A}: also on lines 2, 5",)
    assert reasons[5] == ("missing email", f"duplicate ID {ID_A}: also on lines 2, 4")


def test_quoted_fields_spanning_lines_keep_later_line_numbers_right(melaka):
    text = (HEADER
            + f'{ID_A},"Aminah",a@melaka.gov.my,"Jabatan\nKerja Raya",2026-01-05\n'  # 2-3
            + "12345,Bad,b@melaka.gov.my,D,2026-01-05\n")                          # 4

    parsed = parse(text, melaka)

    assert parsed.rows[0].record.department == "Jabatan Kerja Raya"
    assert [r.line for r in parsed.rejections] == [4]


def test_a_file_saved_by_excel_with_a_byte_order_mark_reads(tmp_path, melaka):
    path = tmp_path / "payroll.csv"
    path.write_bytes(("\ufeff" + HEADER + f"{ID_A},Aminah,a@melaka.gov.my,D,2026-01-05\r\n")
                     .encode("utf-8"))

    parsed = read_payroll_file(path, melaka)

    assert [r.record.user_id for r in parsed.rows] == [ID_A]


def test_a_file_that_is_not_utf8_is_refused_clearly(tmp_path, melaka):
    path = tmp_path / "payroll.csv"
    path.write_bytes((HEADER + f"{ID_A},Ramlah,a@melaka.gov.my,Jabatan \xc9,2026-01-05\n")
                     .encode("latin-1"))

    with pytest.raises(PayrollFileError, match="not UTF-8"):
        read_payroll_file(path, melaka)
