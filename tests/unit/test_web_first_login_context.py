"""First login's pages take the tenant, its settings and URLs from one ``TenantContext``."""

from __future__ import annotations

import ast
from pathlib import Path

from idp_extension.web import first_login


def test_first_login_reads_tenant_and_settings_only_through_the_request_context():
    tree = ast.parse(Path(first_login.__file__).read_text("utf-8"))
    called = {node.func.id for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert "current_context" in called
    assert not called & {"current_tenant", "current_settings", "current_services"}
