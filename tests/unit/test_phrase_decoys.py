"""Site-key decoys cannot be told from phrases people choose by their look.

``REAL`` is a sample of synthetic phrases written the ways people write theirs (Malay,
English, both; names, family, food, places, sayings; every case; digits; punctuation;
SMS spellings). Nobody's real phrase: written for this test. Classifiers that an
attacker could build from what a phrase looks like must do little better than a coin
against decoys, and the old public grammar must say nothing any more.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter

import pytest

from idp_extension.flows import phrase_decoys as D
from idp_extension.flows.first_login import normalise_phrase, phrase_problem

SECRET = "test-secret-key-for-decoys-0123456789"

REAL = """
Kucing saya comel
rumah opah di kampung
Selamat Pagi Malaysia
I love my family
anak2 ku sayang
Nasi lemak sedap
Bunga Raya Merah
pantai cahaya bulan
Along Angah Achik
Aiman dan Sofea
Kopi O Panas
jalan2 cari makan
Teh tarik kurang manis
Manchester United
Harimau Malaya!
sayang mama 2015
Bismillah
Alhamdulillah 123
hidup biar berjasa
Pahang Darul Makmur
kereta kancil merah
Wau Bulan
durian musang king
Rindu Arwah Ayah
Mak Ayah Sayang
my sweet home
Happy Family 2020
Selamat Hari Raya
ikan bilis goreng
Pokok Mangga depan rumah
Doa ibu
Cuti-cuti Malaysia
Sunset at Cherating
Kuantan 1988
cikgu farid 6B
tiger123
Blue Ocean
mimpi indah
Budak Kampung
Anak Jati Kelantan
adik comel
Mawar Berduri
Semangat Waja
jangan putus asa
Insyaallah berjaya
Bola Sepak Hebat
Badminton lover
Lagu Rindu
Gitar Kapok
Hujan di Tengah Hari
Bulan Bintang
Orang Muda
Angin Monsun
Senja di Kuala
nasi kerabu kelantan
Rumah Kayu Tok Wan
Sekolah Rendah Seri Indah
Batch 1995 SMK
Keluarga Bahagia
Cinta Sejati
Teratai Putih
Sang Kancil Cerdik
si comel Oyen
Oyen dan Tompok
Tompok gemuk
Kopi Tenom
roti canai banjir
Kakak Sulung
Ummi Abi
Abah terbaik
Tokwan 80 tahun
Selangor FC
Melaka Bandaraya Bersejarah
Pulau Besar Melaka
Teluk Cempedak
Bukit Tinggi
Genting Highlands
Camry Hitam
Vespa Merah 1972
motor ex5
Honda Cub 70
Lembu Kambing Ayam
kambing golek
satay kajang
laksa penang
cendol pulut
air kelapa muda
Rambutan Manis
Sarjana Muda UKM
UiTM Shah Alam 2009
Kelas 5 Amanah
Pengakap Raja
Kadet Polis
Jom Kayuh!
Keep Calm and Carry On
Never Give Up
stay humble
Life is Beautiful
Good Morning Sunshine
Carpe Diem
Hakuna Matata
Hello Kitty
Doraemon Biru
Upin Ipin
Boboiboy Halilintar
Mat Kilau
Hang Tuah
Tun Perak
Puteri Gunung Ledang
Kota A Famosa
Sungai Pahang
Tasik Chini
Tasik Kenyir
Gunung Tahan 2187
Mount Kinabalu
Muar Johor
Pasar Malam Khamis
kedai mamak
Ramadan Kareem
Salam Aidilfitri
Deepavali 2019
Gong Xi Fa Cai
Kumar Devi 1990
Selamat Datang
apa khabar?
lama tak jumpa
kerja kuat
rajin dan jujur
amanah
Integriti
Berkhidmat Untuk Negara
Malaysia Boleh!
Saya Anak Malaysia
Merdeka 57
31 Ogos
Sayang Baby Hana
Danial Hakim
Nur Alya Sofea
Irfan 2011
Adam Haikal
Qistina comel
My Little Princess
Super Mom
Papa Bear
Mama Jah
Opah Tersayang
Tok Ki
Achik Usu
Gadis Melayu
Cahaya Mata
Permata Hati
Buah Hati Pengarang Jantung
Kasih Ibu
sejuk mata memandang
biru langit
Hijau Daun
Merah Jambu
Kuning Langsat
Hitam Manis
sy syg mak
love u mama
kucing oren gemuk
SAYANG ANAK2
Zara 2018
along88
bungaraya77
Kapal Layar di Muara
petang yang damai...
Rumahku Syurgaku
senyum selalu :)
Bahagia itu pilihan
Jom makan!
aku rindu kampung
Kita Jaga Kita
hujan lagi hari ni
Kopi panas pagi Isnin
Pantai Batu Hitam
Rumah Biru Hujung Jalan
Ayam Goreng Pak Li
Bunga Kertas
"""
REAL_PHRASES = [line.strip() for line in REAL.strip().splitlines() if line.strip()]

# The old decoys' grammar, as published in earlier releases: every decoy was one of these.
OLD_NOUNS = (
    "Pelangi", "Bintang", "Bulan", "Mentari", "Embun", "Ombak", "Angin", "Awan", "Hujan",
    "Helang", "Merpati", "Kenari", "Camar", "Rama-rama", "Teratai", "Melati", "Cempaka",
    "Kenanga", "Mawar", "Orkid", "Kijang", "Pelanduk", "Kunang-kunang", "Seroja", "Cahaya",
    "Bayu", "Sampan", "Pokok Kelapa", "Wau", "Bunga Raya",
)
OLD_PLACES = ("Bukit", "Tasik", "Pantai", "Lembah", "Taman", "Kampung", "Sungai", "Gunung",
              "Pulau", "Hutan", "Desa", "Muara", "Tanjung", "Teluk", "Padang", "Kuala")
OLD_ADJECTIVES = ("Hijau", "Biru", "Indah", "Permai", "Damai", "Sunyi", "Jingga", "Emas",
                  "Perak", "Tenang", "Redup", "Ceria", "Nyaman", "Jernih", "Putih", "Ungu",
                  "Harum", "Sejuk")
OLD_TIMES = ("Pagi", "Senja", "Petang", "Malam", "Subuh", "Fajar")


def _old_grammar() -> frozenset[str]:
    phrases = set()
    for noun in OLD_NOUNS:
        phrases.update(f"{noun} di {p} {a}" for p in OLD_PLACES for a in OLD_ADJECTIVES)
        phrases.update(f"{noun} {a} di Waktu {t}" for a in OLD_ADJECTIVES for t in OLD_TIMES)
        phrases.update(f"{noun} dan {o}" for o in OLD_NOUNS if o != noun)
    phrases.update(f"{p} {a}" for p in OLD_PLACES for a in OLD_ADJECTIVES)
    return frozenset(phrases)


def _decoys(count: int, realm: str = "selangor") -> list[str]:
    return [D.decoy_phrase(SECRET, realm, f"{850101000000 + n}") for n in range(count)]


# -- what the look of a phrase says --------------------------------------------------------


def _case(phrase: str) -> str:
    letters = [w for w in re.findall(r"[A-Za-z][A-Za-z-]*", phrase)]
    if not letters:
        return "none"
    if all(w.islower() for w in letters):
        return "lower"
    if all(w.isupper() for w in letters) and len("".join(letters)) > 3:
        return "upper"
    if all(w[0].isupper() for w in letters):
        return "title"
    if letters[0][0].isupper() and all(w.islower() for w in letters[1:]):
        return "sentence"
    return "mixed"


def features(phrase: str) -> tuple:
    """What a look-based classifier sees: length, words, case, digits, punctuation."""
    words = phrase.split()
    mean_word = sum(len(w) for w in words) / len(words)
    return (
        ("len", min(len(phrase) // 6, 5)),
        ("words", min(len(words), 5)),
        ("case", _case(phrase)),
        ("digits", bool(re.search(r"\d", phrase))),
        ("digit_run", bool(re.search(r"\d{3,}", phrase))),
        ("end", phrase[-1] if not phrase[-1].isalnum() else "alnum"),
        ("inner_punct", bool(re.search(r"[^\w\s]", phrase[:-1]))),
        ("mean_word", min(int(mean_word) // 2, 4)),
    )


class NaiveBayes:
    """Categorical naive Bayes with add-one smoothing."""

    def __init__(self, samples: list[tuple[tuple, int]]) -> None:
        self.classes = Counter(label for _, label in samples)
        self.counts = Counter((label, f) for feats, label in samples for f in feats)
        self.values = Counter(f[0] for f in {f for feats, _ in samples for f in feats})

    def predict(self, feats: tuple) -> int:
        def score(label: int) -> float:
            total = self.classes[label]
            return math.log(total) + sum(
                math.log((self.counts[(label, f)] + 1) / (total + self.values[f[0]] + 1))
                for f in feats)
        return max(self.classes, key=score)


def cross_validated_accuracy(real: list[str], decoys: list[str], folds: int = 5) -> float:
    samples = [(features(p), 1) for p in real] + [(features(p), 0) for p in decoys]
    # Interleave so that every fold holds both kinds in the same proportion.
    ordered = [s for pair in itertools.zip_longest(samples[:len(real)], samples[len(real):])
               for s in pair if s]
    right = 0
    for fold in range(folds):
        train = [s for n, s in enumerate(ordered) if n % folds != fold]
        test = [s for n, s in enumerate(ordered) if n % folds == fold]
        model = NaiveBayes(train)
        right += sum(model.predict(feats) == label for feats, label in test)
    return right / len(ordered)


def best_single_feature_accuracy(real: list[str], decoys: list[str]) -> float:
    """The best any one feature does, each value assigned to the kind it is commoner in."""
    best = 0.0
    for index in range(len(features("abcd"))):
        per_value = Counter()
        for phrase in real:
            per_value[(features(phrase)[index], 1)] += 1
        for phrase in decoys:
            per_value[(features(phrase)[index], 0)] += 1
        values = {v for v, _ in per_value}
        right = sum(max(per_value[(v, 1)] / len(real), per_value[(v, 0)] / len(decoys))
                    for v in values)
        best = max(best, right / 2)  # balanced accuracy
    return best


# -- the tests ---------------------------------------------------------------------------


def test_the_sample_is_varied_and_made_of_valid_phrases():
    assert len(REAL_PHRASES) >= 180 and len(set(REAL_PHRASES)) == len(REAL_PHRASES)
    for phrase in REAL_PHRASES:
        assert phrase == normalise_phrase(phrase) and phrase_problem(phrase) is None, phrase
    assert len({_case(p) for p in REAL_PHRASES}) >= 4


def test_a_look_based_classifier_does_little_better_than_a_coin():
    decoys = _decoys(len(REAL_PHRASES))
    accuracy = cross_validated_accuracy(REAL_PHRASES, decoys)
    # A coin: 0.50 (± 0.04 for samples this size); these decoys: 0.58; the old ones: 0.76.
    assert accuracy <= 0.65, accuracy


def test_no_single_trait_gives_decoys_away():
    decoys = _decoys(2000)
    assert best_single_feature_accuracy(REAL_PHRASES, decoys) <= 0.62


def test_the_old_decoys_were_separable_and_the_test_would_have_caught_them():
    old_style = []
    for n in range(len(REAL_PHRASES)):
        nouns = OLD_NOUNS[n % len(OLD_NOUNS)], OLD_NOUNS[(n * 7 + 3) % len(OLD_NOUNS)]
        place, adjective = OLD_PLACES[n % len(OLD_PLACES)], OLD_ADJECTIVES[n % len(OLD_ADJECTIVES)]
        old_style.append((f"{nouns[0]} di {place} {adjective}", f"{nouns[0]} dan {nouns[1]}",
                          f"{place} {adjective}")[n % 3])
    # 0.76 on this sample: the same classifier sees the old decoys' one look (Title Case,
    # no digits, no punctuation, three words).
    assert cross_validated_accuracy(REAL_PHRASES, old_style) > 0.72


def test_the_old_public_grammar_no_longer_tells_anything():
    grammar = _old_grammar()
    assert len(grammar) == 13_038
    decoys = _decoys(2000)
    # "Outside the grammar ⇒ real" was right for every phrase; now nearly every decoy is
    # outside it too, so the rule calls decoys real.
    assert sum(d in grammar for d in decoys) / len(decoys) < 0.01
    assert not any(p in grammar for p in REAL_PHRASES)


def test_decoys_are_stable_valid_and_vary_like_people_write():
    decoys = _decoys(3000)
    assert decoys == _decoys(3000)  # the same ID, the same decoy
    # Common sayings repeat, as they do among people's phrases.
    assert len(set(decoys)) > 2500
    for phrase in decoys:
        assert phrase == normalise_phrase(phrase) and phrase_problem(phrase) is None, phrase
    shares = Counter(_case(p) for p in decoys)
    for case in ("lower", "title", "sentence", "upper"):
        assert shares[case] / len(decoys) > 0.01, shares
    assert 0.1 < sum(bool(re.search(r"\d", p)) for p in decoys) / len(decoys) < 0.4
    assert 0.04 < sum(not p[-1].isalnum() for p in decoys) / len(decoys) < 0.3
    assert {len(p.split()) for p in decoys} >= {1, 2, 3, 4, 5}


@pytest.mark.parametrize("other", [("melaka", SECRET), ("selangor", "another-secret")])
def test_decoys_depend_on_the_realm_and_the_key(other):
    realm, key = other
    mine = _decoys(200)
    theirs = [D.decoy_phrase(key, realm, f"{850101000000 + n}") for n in range(200)]
    assert sum(a != b for a, b in zip(mine, theirs)) > 180


def test_images_are_spread_over_the_gallery_and_stable():
    picks = Counter(D.decoy_image_index(SECRET, "selangor", str(n), 16) for n in range(3200))
    assert set(picks) == set(range(16)) and max(picks.values()) < 2 * min(picks.values())
    assert D.decoy_image_index(SECRET, "selangor", "x", 16) == D.decoy_image_index(
        SECRET, "selangor", "x", 16)


def test_the_generators_vocabulary_is_what_an_attacker_holding_the_code_knows():
    # Residual risk, measured (README): a phrase with a word the generator never writes
    # is real. On the sample, how often does "every word known" call a real phrase a decoy?
    known = D.vocabulary()

    def all_known(phrase: str) -> bool:
        words = re.findall(r"[a-z]+", phrase.lower())
        return all(w in known or len(w) <= 1 for w in words)

    share_real_all_known = sum(map(all_known, REAL_PHRASES)) / len(REAL_PHRASES)
    share_decoys_all_known = sum(map(all_known, _decoys(1000))) / 1000
    # Decoys with syllable-made names escape the list too; most real phrases do not.
    assert share_decoys_all_known > 0.8
    assert share_real_all_known > 0.25, share_real_all_known
