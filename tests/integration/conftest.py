"""Integration tests: real Keycloak, real SMTP, real gunicorn (fixtures in tests/support/stack.py)."""
