"""The Imej Online gallery: enough distinct pictures, described in Malay and English."""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET

from idp_extension.gallery import GALLERY, GALLERY_DIR, image_by_id

SVG = "{http://www.w3.org/2000/svg}svg"


def test_at_least_twelve_images_with_unique_ids_and_files():
    assert len(GALLERY) >= 12
    assert len({g.id for g in GALLERY}) == len(GALLERY)
    assert len({g.file for g in GALLERY}) == len(GALLERY)
    assert all(re.fullmatch(r"[a-z][a-z0-9-]*", g.id) for g in GALLERY)


def test_every_listed_file_exists_and_every_file_is_listed():
    listed = {g.file for g in GALLERY}
    on_disk = {p.name for p in GALLERY_DIR.glob("*.svg")}
    assert listed == on_disk
    assert (GALLERY_DIR / "README.md").read_text().count("CC0") >= 1


def test_images_are_small_self_contained_svgs_that_differ():
    digests = set()
    for image in GALLERY:
        text = image.path.read_text(encoding="utf-8")
        root = ET.fromstring(text)
        assert root.tag == SVG, image.file
        assert root.get("viewBox") == "0 0 120 120", image.file
        assert len(text.encode()) < 4096, image.file
        # Nothing fetched from elsewhere, nothing that runs.
        assert not re.search(r"<script|href=|url\(http|@import|<image", text), image.file
        colours = set(re.findall(r'(?:fill|stroke)="(#[0-9a-fA-F]{6})"', text))
        assert len(colours) >= 2, image.file  # a tinted tile and a drawing
        digests.add(hashlib.sha256(text.encode()).hexdigest())
    assert len(digests) == len(GALLERY)


def test_every_image_has_alt_text_in_both_languages():
    for image in GALLERY:
        assert image.alt_ms.strip() and image.alt_en.strip(), image.id
        assert image.alt_ms != image.alt_en, image.id
        assert image.alt("ms") == image.alt_ms and image.alt("en") == image.alt_en
    assert len({g.alt_ms for g in GALLERY}) == len(GALLERY)
    assert len({g.alt_en for g in GALLERY}) == len(GALLERY)


def test_lookup_by_id():
    assert image_by_id("hornbill").file == "hornbill.svg"
    assert image_by_id("no-such-image") is None
    assert image_by_id(None) is None and image_by_id("") is None
