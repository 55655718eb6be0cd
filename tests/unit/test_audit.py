"""Audit events as JSON lines, with secrets kept out."""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime, timedelta, timezone

import pytest

from idp_extension.audit import (
    AUDIT_LOGGER_NAME,
    REDACTED,
    AuditEvent,
    AuditLog,
    JsonLinesAuditLog,
    LoggingAuditLog,
    MemoryAuditLog,
    audit_log_from_settings,
    build_entry,
    looks_secret,
)
from idp_extension.settings import load_settings


def test_writes_one_json_object_per_line_to_a_stream():
    stream = io.StringIO()
    log = JsonLinesAuditLog(stream)
    log.record(AuditEvent.ACTIVATION_REQUESTED, realm="pahang", subject="u-1", channel="web")
    log.record("account:activation:completed", realm="pahang", subject="u-1")

    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["event"] == "account:activation:requested"
    assert first["realm"] == "pahang" and first["subject"] == "u-1"
    assert first["outcome"] == "success"
    assert first["details"] == {"channel": "web"}
    assert second["event"] == "account:activation:completed"
    assert set(first) == {"ts", "event", "realm", "subject", "outcome", "details"}


def test_timestamp_is_utc_iso_8601():
    stream = io.StringIO()
    JsonLinesAuditLog(stream).record(AuditEvent.REALM_APPLIED, realm="melaka")
    ts = json.loads(stream.getvalue())["ts"]
    assert ts.endswith("Z")
    parsed = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    assert parsed.utcoffset() == timedelta(0)
    assert abs(datetime.now(timezone.utc) - parsed) < timedelta(seconds=5)


def test_local_times_are_converted_to_utc():
    local = datetime(2025, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=8)))  # Malaysia
    entry = build_entry(
        AuditEvent.REALM_APPLIED, realm="pahang", subject=None, outcome="success", details={},
        now=local,
    )
    assert entry["ts"] == "2025-03-01T01:30:00.000000Z"


def test_appends_to_a_file_and_creates_its_folder(tmp_path):
    path = tmp_path / "logs" / "audit.jsonl"
    log = JsonLinesAuditLog(path)
    log.record(AuditEvent.ACCOUNT_UNLOCKED, realm="kelantan", subject="u-2", by="admin-1")
    JsonLinesAuditLog(path).record(AuditEvent.ACCOUNT_LOCKED, realm="kelantan", subject="u-3")
    events = [json.loads(line)["event"] for line in path.read_text().splitlines()]
    assert events == ["account:unlocked", "account:locked"]


@pytest.mark.parametrize(
    "key",
    ["password", "new_password", "Password", "temporary_password", "token", "access_token",
     "activation_token", "answer", "answers", "security_answer", "secret", "client_secret",
     "secret_phrase", "phrase", "otp", "nonce", "api_key", "credential", "authorization",
     "pin"],
)
def test_secret_looking_keys_are_redacted(key):
    stream = io.StringIO()
    JsonLinesAuditLog(stream).record(
        AuditEvent.PASSWORD_CHANGED, realm="selangor", subject="u-1", **{key: "hunter2-Secret!"}
    )
    line = stream.getvalue()
    assert "hunter2" not in line
    assert json.loads(line)["details"][key] == REDACTED


def test_secrets_are_redacted_at_any_depth():
    stream = io.StringIO()
    JsonLinesAuditLog(stream).record(
        AuditEvent.SECURITY_QUESTIONS_CHANGED,
        realm="pahang",
        subject="u-1",
        questions=[
            {"id": "mother_name", "answer": "Siti"},
            {"id": "first_car", "answer": "Kancil"},
        ],
        form={"nested": {"Secret_Phrase": "bulan purnama"}},
    )
    line = stream.getvalue()
    assert "Siti" not in line and "Kancil" not in line and "purnama" not in line
    details = json.loads(line)["details"]
    assert details["questions"][0] == {"id": "mother_name", "answer": REDACTED}
    assert details["form"]["nested"]["Secret_Phrase"] == REDACTED


def test_harmless_keys_are_kept():
    for key in ("email_domain", "question_ids", "count", "client_ip", "reason", "version"):
        assert not looks_secret(key), key


def test_unknown_events_and_outcomes_are_refused():
    log = JsonLinesAuditLog(io.StringIO())
    with pytest.raises(ValueError):
        log.record("account:teleported", realm="pahang")
    with pytest.raises(ValueError):
        log.record(AuditEvent.REALM_APPLIED, realm="pahang", outcome="maybe")


def test_non_json_details_are_written_as_text():
    stream = io.StringIO()
    when = datetime(2025, 1, 2, tzinfo=timezone.utc)
    JsonLinesAuditLog(stream).record(AuditEvent.USERS_IMPORTED, realm="melaka", at=when)
    assert json.loads(stream.getvalue())["details"]["at"] == str(when)


def test_memory_log_keeps_redacted_entries():
    log = MemoryAuditLog()
    log.record(AuditEvent.ACTIVATION_REQUESTED, realm="pahang", subject="u-1")
    log.record(
        AuditEvent.ACTIVATION_FAILED, realm="pahang", subject="u-1", outcome="failure",
        token="abc",
    )
    assert log.events() == ["account:activation:requested", "account:activation:failed"]
    assert log.last(AuditEvent.ACTIVATION_FAILED)["details"] == {"token": REDACTED}
    assert log.last()["outcome"] == "failure"
    assert log.last("account:unlocked") is None


def test_logging_log_writes_json_lines_to_its_logger(caplog):
    logger = logging.getLogger("test.audit")
    with caplog.at_level(logging.INFO, logger="test.audit"):
        LoggingAuditLog(logger).record(AuditEvent.REALM_APPLIED, realm="pahang", password="x")
    entry = json.loads(caplog.records[-1].getMessage())
    assert entry["event"] == "realm:applied" and entry["details"] == {"password": REDACTED}


def test_implementations_satisfy_the_protocol():
    for log in (JsonLinesAuditLog(io.StringIO()), LoggingAuditLog(), MemoryAuditLog()):
        assert isinstance(log, AuditLog)


def test_settings_choose_a_file_or_stderr(tmp_path):
    to_file = audit_log_from_settings(load_settings({"ISPEKS_AUDIT_LOG": str(tmp_path / "a.log")}))
    to_stderr = audit_log_from_settings(load_settings({}))
    assert isinstance(to_file.inner, JsonLinesAuditLog)
    assert isinstance(to_stderr.inner, LoggingAuditLog)
    assert logging.getLogger(AUDIT_LOGGER_NAME).handlers  # goes somewhere by default
