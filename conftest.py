"""Root pytest configuration: shared fixtures and layer markers."""

from pathlib import Path

import pytest

pytest_plugins = ["tests.support.stack", "tests.support.redis_server", "tests.support.chromium"]

_LAYERS = {"integration": pytest.mark.integration, "e2e": pytest.mark.e2e}


def pytest_collection_modifyitems(items):
    """Mark every test by the folder (layer) it lives in."""
    for item in items:
        layer = Path(str(item.fspath)).parent.name
        if layer in _LAYERS:
            item.add_marker(_LAYERS[layer])
