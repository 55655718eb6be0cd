"""The "Imej Online" gallery: pictures a user picks to recognise the real login page.

The files are hand-written SVGs in ``web/static/gallery/`` (CC0, see the README there);
this catalogue is the only list of them. A user attribute ``ispeks_image_id`` holds one
``GalleryImage.id``; decoys for unknown IDs are drawn from the same list, so a decoy
looks like any real choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

GALLERY_DIR = Path(__file__).resolve().parent / "web" / "static" / "gallery"
# Path of the gallery under the sidecar's static URL (``/static/<STATIC_PREFIX>/<file>``).
STATIC_PREFIX = "gallery"


@dataclass(frozen=True)
class GalleryImage:
    id: str
    file: str
    alt_ms: str
    alt_en: str

    def alt(self, locale: str) -> str:
        return self.alt_en if locale == "en" else self.alt_ms

    @property
    def path(self) -> Path:
        return GALLERY_DIR / self.file


GALLERY: tuple[GalleryImage, ...] = (
    GalleryImage("hornbill", "hornbill.svg", "Burung enggang di atas dahan", "A hornbill on a branch"),
    GalleryImage("hibiscus", "hibiscus.svg", "Bunga raya merah", "A red hibiscus flower"),
    GalleryImage("boat", "boat.svg", "Perahu layar di atas air", "A sailing boat on the water"),
    GalleryImage("kite", "kite.svg", "Wau merah jambu dan kuning", "A pink and yellow kite (wau)"),
    GalleryImage("house", "house.svg", "Rumah kampung bertiang", "A village house on stilts"),
    GalleryImage("mountain", "mountain.svg", "Gunung ungu berpuncak putih",
                 "A purple mountain with a white peak"),
    GalleryImage("star", "star.svg", "Bintang kuning", "A yellow star"),
    GalleryImage("moon", "moon.svg", "Bulan sabit di langit malam",
                 "A crescent moon in the night sky"),
    GalleryImage("fish", "fish.svg", "Ikan oren", "An orange fish"),
    GalleryImage("tree", "tree.svg", "Pokok rendang", "A leafy tree"),
    GalleryImage("drum", "drum.svg", "Gendang dengan dua batang pemukul",
                 "A drum with two drumsticks"),
    GalleryImage("cup", "cup.svg", "Cawan minuman panas", "A cup of hot drink"),
    GalleryImage("umbrella", "umbrella.svg", "Payung ungu", "A purple umbrella"),
    GalleryImage("cat", "cat.svg", "Kucing kelabu sedang duduk", "A grey cat sitting"),
    GalleryImage("butterfly", "butterfly.svg", "Rama-rama biru", "A blue butterfly"),
    GalleryImage("bicycle", "bicycle.svg", "Basikal merah", "A red bicycle"),
)

_BY_ID = {image.id: image for image in GALLERY}


def image_by_id(image_id: str | None) -> GalleryImage | None:
    """The gallery image called ``image_id``, or None if there is none."""
    return _BY_ID.get(image_id or "")
