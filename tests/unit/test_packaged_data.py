"""Where realm templates and themes come from: the installed package, else the checkout."""

from __future__ import annotations

import pytest

from idp_extension import settings as settings_module
from idp_extension.settings import PROJECT_ROOT, Settings, data_dir, load_settings
from idp_extension.tenants import ValuesError, list_states


def test_a_checkout_uses_its_top_level_folders():
    # An editable install has no packaged copy (setup.py skips it there).
    assert data_dir("realm-templates") == PROJECT_ROOT / "realm-templates"
    assert Settings().themes_dir == PROJECT_ROOT / "themes"


def test_an_installed_package_uses_its_own_copy(tmp_path, monkeypatch):
    (tmp_path / "realm-templates" / "values").mkdir(parents=True)
    (tmp_path / "themes").mkdir()
    monkeypatch.setattr(settings_module, "PACKAGED_DATA", tmp_path)
    settings = load_settings({})
    assert settings.realm_templates_dir == tmp_path / "realm-templates"
    assert settings.themes_dir == tmp_path / "themes"


def test_explicit_settings_win(tmp_path):
    settings = load_settings({"ISPEKS_REALM_TEMPLATES_DIR": str(tmp_path / "t"),
                              "ISPEKS_THEMES_DIR": str(tmp_path / "th")})
    assert settings.realm_templates_dir == tmp_path / "t"
    assert settings.themes_dir == tmp_path / "th"


@pytest.mark.parametrize("make", [lambda p: None, lambda p: (p / "values").mkdir()])
def test_no_states_at_all_is_an_error_naming_the_folder_and_the_setting(tmp_path, make):
    make(tmp_path)
    with pytest.raises(ValuesError, match="ISPEKS_REALM_TEMPLATES_DIR") as caught:
        list_states(tmp_path)
    assert str(tmp_path / "values") in str(caught.value)


def test_the_checkout_serves_four_states():
    assert list_states(Settings().realm_templates_dir) == ["kelantan", "melaka", "pahang", "selangor"]
