"""One email address means one plain addr-spec, and a state allows only its own domains."""

from __future__ import annotations

import pytest

from idp_extension.addresses import address_domain, is_single_addr_spec
from idp_extension.settings import Settings
from idp_extension.tenants import load_tenant


@pytest.fixture(scope="module")
def melaka():
    return load_tenant(Settings().realm_templates_dir, "melaka")


@pytest.mark.parametrize("address", [
    "ali@pahang.gov.my", "ali.bin.abu@jkr.pahang.gov.my", "o'neil+gaji@pahang.gov.my",
    "A_B-c@Pahang.Gov.My", "x@xn--80ak6aa92e.com",
])
def test_plain_addresses_are_one_address(address):
    assert is_single_addr_spec(address)


@pytest.mark.parametrize("address", [
    "", "ali", "@pahang.gov.my", "ali@", "boss,x@pahang.gov.my", "boss;x@pahang.gov.my",
    "evil@example.com, x@pahang.gov.my", "Boss <x@pahang.gov.my>", "<x@pahang.gov.my>",
    '"a@b"@pahang.gov.my', '"a"@pahang.gov.my', "a@b@pahang.gov.my", "x%y@pahang.gov.my",
    "x!y@pahang.gov.my", "a..b@pahang.gov.my", ".a@pahang.gov.my", "a.@pahang.gov.my",
    "a b@pahang.gov.my", " a@pahang.gov.my", "a@pahang.gov.my\n", "a@pahang.gov.my\r\nBcc: x",
    "a\x00@pahang.gov.my", "a@pahang", "a@pahang.gov.my.", "a@-pahang.gov.my",
    "a@[127.0.0.1]", "ali@pahang.gov.my(comment)", "álí@pahang.gov.my", "ali@páhang.gov.my",
    "x" * 65 + "@pahang.gov.my", "a@" + "b" * 250 + ".my",
])
def test_anything_else_is_not(address):
    assert not is_single_addr_spec(address)
    assert address_domain(address) == ""


@pytest.mark.parametrize("address, allowed", [
    ("ali@melaka.gov.my", True),
    ("ali@jkr.melaka.gov.my", True),            # a subdomain of an allowed domain
    ("ALI@MELAKA.GOV.MY", True),
    ("ali@gmail.com", False),
    ("ali@notmelaka.gov.my", False),             # a suffix, not a subdomain
    ("ali@melaka.gov.my.evil.com", False),
    ("evil@gmail.com,ali@melaka.gov.my", False),  # ends in the domain, two recipients
    ("evil@gmail.com@melaka.gov.my", False),
    ('"evil@gmail.com"@melaka.gov.my', False),
])
def test_a_state_allows_only_one_address_in_its_domains(melaka, address, allowed):
    assert melaka.allows_email(address) is allowed
