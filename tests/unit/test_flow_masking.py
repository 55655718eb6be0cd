"""Masked email addresses, real and decoy."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from idp_extension.demo_users import synthetic_people
from idp_extension.flows.masking import decoy_masked_email, mask_email
from idp_extension.settings import Settings
from idp_extension.tenants import load_tenant

SHAPE = re.compile(r"^[a-z]\*{5}(\.[a-z]\*{5})?@[a-z.]+$")


@pytest.fixture(scope="module")
def pahang():
    return load_tenant(Settings().realm_templates_dir, "pahang")


@pytest.mark.parametrize("address, masked", [
    ("aminah.hassan@perbendaharaan.pahang.gov.my", "a*****.h*****@perbendaharaan.pahang.gov.my"),
    ("farid@pahang.gov.my", "f*****@pahang.gov.my"),
    ("Nurul.Ain.Samad@Kelantan.gov.my", "n*****.a*****.s*****@kelantan.gov.my"),
    ("a.b@x.gov.my", "a*****.b*****@x.gov.my"),
    ("not-an-address", "*****"),
])
def test_mask_keeps_first_letters_and_the_domain(address, masked):
    assert mask_email(address) == masked


def test_mask_hides_the_length_of_names():
    assert mask_email("al.li@x.my") == mask_email("abdullah.lingam@x.my")


def test_decoy_is_stable_and_shaped_like_a_real_mask(pahang):
    decoy = decoy_masked_email("k", "pahang", "900101061234", pahang)
    assert decoy == decoy_masked_email("k", "pahang", "900101061234", pahang)
    assert SHAPE.match(decoy)
    assert decoy.endswith("@pahang.gov.my")


def test_decoy_depends_on_the_key_and_the_realm(pahang):
    ids = [p.user_id for p in synthetic_people(pahang, 30, seed="decoys")]
    base = [decoy_masked_email("k", "pahang", i, pahang) for i in ids]
    assert base != [decoy_masked_email("other", "pahang", i, pahang) for i in ids]
    assert base != [decoy_masked_email("k", "kelantan", i, pahang) for i in ids]


def test_decoys_look_like_the_real_masks_of_the_same_realm(pahang):
    people = synthetic_people(pahang, 200, seed="decoys")
    decoys = [decoy_masked_email("k", "pahang", p.user_id, pahang) for p in people]
    reals = [mask_email(p.email) for p in people]
    assert all(SHAPE.match(m) for m in decoys + reals)
    # Mostly "given.family", like real addresses; a variety of initials.
    assert Counter(d.count(".") - d.split("@")[1].count(".") for d in decoys)[1] > 120
    assert len({d[0] for d in decoys}) > 10


def test_decoy_domain_comes_from_the_tenant(pahang):
    from dataclasses import replace

    melaka_like = replace(pahang, realm="melaka", email_domains=("melaka.gov.my",))
    assert decoy_masked_email("k", "melaka", "900101041234", melaka_like).endswith("@melaka.gov.my")
