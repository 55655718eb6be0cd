"""The sidecar under real gunicorn, configured only by ISPEKS_* variables, without Keycloak."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest
import requests

from idp_extension.keycloak_server import free_port
from tests.support.processes import stop_process

pytestmark = pytest.mark.integration

START_TIMEOUT = 30


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory):
    """Start ``gunicorn idp_extension.web.wsgi:app`` on a free port; stop it by its pid."""
    folder = tmp_path_factory.mktemp("sidecar")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPEKS_")}
    env.update({
        # Nothing listens on these: the sidecar must start and serve anyway.
        "ISPEKS_KEYCLOAK_URL": f"http://127.0.0.1:{free_port()}",
        "ISPEKS_SMTP_HOST": "127.0.0.1",
        "ISPEKS_SMTP_PORT": str(free_port()),
        "ISPEKS_SECRET_KEY": secrets.token_urlsafe(32),
        "ISPEKS_SIDECAR_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "ISPEKS_AUDIT_LOG": str(folder / "audit.jsonl"),
    })
    log_path = folder / "gunicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            # Threads, as in production (deploy/gunicorn.conf.py): the gthread worker keeps
            # connections alive between requests.
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
             "--threads", "4", "--graceful-timeout", "5", "idp_extension.web.wsgi:app"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(process, base, log_path)
        yield base
    finally:
        stop_process(process)


def _wait_until_serving(process: subprocess.Popen, base: str, log_path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            requests.get(f"{base}/healthz", timeout=1)
            return
        except requests.RequestException:
            # Refused before the bind, or read timeout while the worker still imports.
            time.sleep(0.2)
    pytest.fail(f"gunicorn did not answer within {START_TIMEOUT}s:\n{log_path.read_text()}")


def test_healthz(sidecar):
    response = requests.get(f"{sidecar}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_known_state_page(sidecar):
    response = requests.get(f"{sidecar}/pahang/", timeout=5)
    assert response.status_code == 200
    assert "iSPEKS Kerajaan Negeri Pahang" in response.text
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_unknown_state_is_a_bilingual_404(sidecar):
    response = requests.get(f"{sidecar}/nosuchstate/", timeout=5)
    assert response.status_code == 404
    assert "Negeri tidak dikenali" in response.text and "Unknown state" in response.text


def test_stylesheet_is_served(sidecar):
    response = requests.get(f"{sidecar}/static/css/ispeks.css", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/css")


# -- raw HTTP/1.1 on one connection ----------------------------------------------------------


def _connect(base: str) -> socket.socket:
    parts = urlsplit(base)
    return socket.create_connection((parts.hostname, parts.port), timeout=15)


def _read_response(sock: socket.socket, buffer: bytes = b"") -> tuple[dict, bytes, bytes]:
    """Read one response with a Content-Length body; return its headers, body and the rest."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a whole response: {buffer[:200]!r}"
        buffer += chunk
    head, rest = buffer.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {"status": lines[0]}
    headers.update({k.strip().lower(): v.strip()
                    for k, v in (line.split(":", 1) for line in lines[1:])})
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of a body"
        rest += chunk
    return headers, rest[:length], rest[length:]


def _closed_by_server(sock: socket.socket, rest: bytes) -> bool:
    """True if the server ends the connection (EOF or reset) with nothing more to say."""
    try:
        return rest == b"" and sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _get(base: str, path: str) -> bytes:
    host = urlsplit(base).netloc
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


@pytest.mark.parametrize("size", [64 * 1024 + 1, 200 * 1024, 4 * 1024 * 1024])
def test_a_413_says_connection_close_and_closes(sidecar, size):
    host = urlsplit(sidecar).netloc
    body = b"user_id=" + b"9" * size
    with _connect(sidecar) as sock:
        sock.sendall(f"POST /pahang/recovery HTTP/1.1\r\nHost: {host}\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode())
        try:
            sock.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may stop reading once it has answered
        headers, _, rest = _read_response(sock)

        assert headers["status"].startswith("HTTP/1.1 413")
        assert headers["connection"].lower() == "close"
        assert _closed_by_server(sock, rest)


def test_an_ordinary_answer_keeps_the_connection_for_the_next_request(sidecar):
    with _connect(sidecar) as sock:
        sock.sendall(_get(sidecar, "/healthz"))
        first, _, rest = _read_response(sock)
        sock.sendall(_get(sidecar, "/pahang/"))
        second, body, _ = _read_response(sock, rest)

    assert first["status"].startswith("HTTP/1.1 200") and first["connection"] == "keep-alive"
    assert second["status"].startswith("HTTP/1.1 200") and b"Pahang" in body


def test_a_forged_host_gets_400_without_an_echo(sidecar):
    with _connect(sidecar) as sock:
        sock.sendall(b"GET /pahang HTTP/1.1\r\nHost: evil.example\r\n\r\n")
        headers, body, _ = _read_response(sock)

    assert headers["status"].startswith("HTTP/1.1 400")
    assert "location" not in headers
    assert b"evil.example" not in body
    assert not any("evil.example" in value for value in headers.values())


# --- a production configuration with a weak secret does not start ----------------------


def _production_env(tmp_path, **variables) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISPEKS_")}
    env.update({"ISPEKS_SIDECAR_PUBLIC_URL": "https://sso.ispeks.example.gov.my/idp",
                "ISPEKS_KEYCLOAK_URL": "https://sso.ispeks.example.gov.my",
                "ISPEKS_CREDENTIALS_DIR": str(tmp_path / "credentials"),
                # Shared storage, as production must have (the sidecar connects lazily):
                # only the secret is wrong here.
                "ISPEKS_RATELIMIT_STORAGE_URI": "redis://127.0.0.1:9/0",
                "ISPEKS_AUDIT_LOG": str(tmp_path / "audit.jsonl"), **variables})
    return env


def _gunicorn(env: dict) -> subprocess.CompletedProcess:
    # One worker: with two, gunicorn's master may print its own traceback while it
    # reaps the second refusing worker (a race inside gunicorn, not our message).
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{free_port()}",
         "--workers", "1", "idp_extension.web.wsgi:app"],
        env=env, capture_output=True, text=True, timeout=120)


def test_gunicorn_refuses_a_placeholder_secret_key_in_one_line(tmp_path):
    result = _gunicorn(_production_env(
        tmp_path, ISPEKS_SECRET_KEY="change-me-64-random-characters"))

    assert result.returncode != 0
    assert ("iSPEKS sidecar not started: ISPEKS_SECRET_KEY is a placeholder (contains "
            "'change-me'): set ISPEKS_SECRET_KEY (or ISPEKS_SECRET_KEY_FILE) to a random "
            "value") in result.stderr
    assert "secrets.token_urlsafe(48)" in result.stderr
    assert "Traceback" not in result.stderr


def test_gunicorn_refuses_a_missing_client_secret_file(tmp_path):
    key = tmp_path / "secret-key"
    key.write_text(secrets.token_urlsafe(48))

    result = _gunicorn(_production_env(tmp_path, ISPEKS_SECRET_KEY_FILE=str(key)))

    assert result.returncode != 0
    assert "no secret for client ispeks-sidecar of" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_cli_refuses_a_short_state_secret_against_a_remote_keycloak(tmp_path):
    folder = tmp_path / "credentials" / "pahang"
    folder.mkdir(parents=True)
    (folder / "ispeks-state-it.secret").write_text("s3cr3t\n")

    result = subprocess.run(
        [sys.executable, "-m", "idp_extension.cli", "users", "list", "--state", "pahang",
         "--pending"], env=_production_env(tmp_path), capture_output=True, text=True,
        timeout=60)

    assert result.returncode == 1
    assert "pahang/ispeks-state-it.secret is too short (6 bytes, 32 or more needed)" in (
        result.stderr)
    assert "rotate-secret --state pahang --client state-it" in result.stderr
    assert "Traceback" not in result.stderr
