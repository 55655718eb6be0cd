"""The Keycloak home: built with the project's provider jars, keyed by their checksums,
renamed into place only when complete (no network: a stand-in archive and kc.sh)."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from idp_extension.keycloak_server import (
    BUILD_RECORD,
    KeycloakDistribution,
    KeycloakServerError,
    ProviderSource,
    project_providers,
)

VERSION = "26.7.3"
# Counts its runs in a file of the home it builds; fails when asked to.
KC_SH = """#!/bin/sh
here=$(dirname "$0")/..
echo build >> "$here/builds.log"
[ -e "$here/providers/fail" ] && exit 1
exit 0
"""


@dataclass(frozen=True)
class PrebuiltProvider:
    """Stands in for a ProviderSource: its jar is already built."""

    jar: Path

    @property
    def name(self) -> str:
        return self.jar.stem

    def ensure(self, cache_dir: Path, java_home: Path) -> Path:
        return self.jar


def _archive(cache: Path) -> None:
    path = cache / "downloads" / f"keycloak-quarkus-dist-{VERSION}.tar.gz"
    path.parent.mkdir(parents=True)
    with tarfile.open(path, "w:gz") as archive:
        for name, text in ((f"keycloak-{VERSION}/bin/kc.sh", KC_SH),
                           (f"keycloak-{VERSION}/providers/README.md", "providers\n")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            archive.addfile(info, io.BytesIO(data))


def _jar(tmp_path: Path, name: str, content: bytes) -> PrebuiltProvider:
    jar = tmp_path / "jars" / name
    jar.parent.mkdir(exist_ok=True)
    jar.write_bytes(content)
    return PrebuiltProvider(jar)


@pytest.fixture
def cache(tmp_path) -> Path:
    cache = tmp_path / "cache"
    _archive(cache)
    return cache


def test_the_home_holds_the_jars_and_is_built_once(tmp_path, cache):
    provider = _jar(tmp_path, "ispeks-login.jar", b"jar one")
    distribution = KeycloakDistribution(cache, VERSION, providers=(provider,))

    home = distribution.ensure(tmp_path / "no-jdk")
    again = distribution.ensure(tmp_path / "no-jdk")

    assert again == home and home.name.startswith(f"keycloak-{VERSION}-")
    assert (home / "providers/ispeks-login.jar").read_bytes() == b"jar one"
    assert (home / "builds.log").read_text() == "build\n"
    assert (home / BUILD_RECORD).exists()
    # Nothing half-made is left next to it.
    assert sorted(p.name for p in home.parent.iterdir()) == [home.name]


def test_another_jar_gets_another_home_and_the_first_is_left_alone(tmp_path, cache):
    first = KeycloakDistribution(cache, VERSION, providers=(_jar(tmp_path, "a.jar", b"one"),))
    home_one = first.ensure(tmp_path / "no-jdk")
    second = KeycloakDistribution(cache, VERSION, providers=(_jar(tmp_path, "b.jar", b"two"),))

    home_two = second.ensure(tmp_path / "no-jdk")

    assert home_two != home_one
    assert (home_two / "providers/b.jar").exists() and not (home_two / "providers/a.jar").exists()
    assert sorted((home_one / "providers").iterdir()) == [home_one / "providers/README.md",
                                                          home_one / "providers/a.jar"]


def test_a_failed_build_leaves_nothing_that_looks_complete(tmp_path, cache):
    failing = _jar(tmp_path, "fail", b"makes kc.sh fail")
    distribution = KeycloakDistribution(cache, VERSION, providers=(failing,))

    with pytest.raises(KeycloakServerError, match="kc.sh build failed"):
        distribution.ensure(tmp_path / "no-jdk")

    assert list((cache / "keycloak").iterdir()) == []


def test_provider_digest_follows_pom_and_sources_but_not_build_output(tmp_path):
    source = tmp_path / "ispeks-login"
    (source / "src/main/java").mkdir(parents=True)
    (source / "pom.xml").write_text("<project/>")
    (source / "src/main/java/A.java").write_text("class A {}")
    provider = ProviderSource(source)
    before = provider.digest()

    (source / "target").mkdir()
    (source / "target/ispeks-login.jar").write_bytes(b"built")
    assert provider.digest() == before
    (source / "src/main/java/A.java").write_text("class A { int x; }")
    assert provider.digest() != before


def test_the_repository_ships_the_login_provider():
    (provider,) = project_providers()
    assert provider.name == "ispeks-login"
    assert (provider.source / "src/main/resources/META-INF/services"
            / "org.keycloak.authentication.AuthenticatorFactory").read_text().strip() == (
        "my.gov.ispeks.keycloak.login.IspeksUsernamePasswordFormFactory")
