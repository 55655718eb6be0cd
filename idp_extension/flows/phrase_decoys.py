"""Decoy secret phrases that look like the phrases people choose.

The login page shows a phrase for every ID typed (``flows.site_key``): the user's own,
or, for an ID without one, a decoy. A decoy drawn from a small public grammar ("Pelangi
di Bukit Hijau") told itself apart: every real phrase outside that grammar was real.
People write their phrases in many ways, so decoys do too, in roughly the proportions
people use them (our estimate, from how Malaysian users write short personal phrases):

* Malay words and sentences ("kucing saya comel", "Rumah Opah di Kampung"), English
  ("my sweet home", "Never Give Up") and both mixed ("nasi lemak lover");
* names and nicknames with a year or a number ("Irfan 2011", "along88"), family words
  ("Mak Ayah Sayang"), greetings and sayings ("Selamat Pagi!", "Insyaallah berjaya");
* every case (lower, Title Case, Sentence case, a few in CAPITALS), digits ("anak2",
  "Kelas 5 Amanah"), SMS spellings ("sy syg mak"), and some punctuation ("!", "...").

Everything is drawn from an HMAC-SHA256 stream of (realm, ID) under the server's secret
key, in counter mode with our own arithmetic (no ``random`` module, whose algorithms may
change between Python versions): the same ID gets the same decoy for as long as the key
stays, and nobody without the key can predict or link decoys.

Residual risk (README, "Site-key decoys"): the word lists are public. A phrase that the
generator could not have made (a word outside the lists, say a rare name) is real. The
lists are broad and every list draws from the same kinds of words people use, so a rule
"unusual word ⇒ real" errs often, but it is a signal, not noise.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")

MIN_LENGTH = 4
MAX_LENGTH = 60

# -- words ----------------------------------------------------------------------------

MS_NOUNS = (
    "rumah", "kucing", "bunga", "laut", "langit", "bulan", "bintang", "pantai", "sungai",
    "gunung", "hujan", "pelangi", "kampung", "sekolah", "keluarga", "anak", "hati", "jiwa",
    "mimpi", "harapan", "impian", "doa", "rezeki", "nasi lemak", "teh tarik", "kopi",
    "durian", "rambutan", "mangga", "cempedak", "roti canai", "satay", "laksa", "rendang",
    "cendol", "kereta", "motor", "basikal", "kapal", "perahu", "sampan", "wau", "ayam",
    "itik", "kambing", "lembu", "harimau", "gajah", "burung", "helang", "merpati", "ikan",
    "kuda", "arnab", "pokok", "kelapa", "padi", "sawah", "kebun", "taman", "bukit", "tasik",
    "pulau", "awan", "angin", "mentari", "matahari", "embun", "ombak", "senja", "pagi",
    "malam", "petang", "hari raya", "cuti", "jalan", "bandar", "pejabat", "buku", "lagu",
    "gitar", "bola", "masjid", "dunia", "bumi", "alam", "warna", "cahaya", "air", "batu",
    "emas", "intan", "permata", "mutiara", "bunga raya", "melur", "mawar", "orkid",
    "teratai", "kenanga", "cempaka", "melati", "kasih", "cinta", "sayang", "rindu",
    "sahabat", "kawan", "pasar malam", "kedai", "durian", "buah hati", "cahaya mata",
    "permata hati", "budak", "gadis", "teruna", "puteri", "raja", "hero", "pahlawan",
    "semangat", "cita-cita", "kejayaan", "bahagia", "syurga", "kapal terbang", "keretapi",
    "bas sekolah", "kelas", "cikgu", "ustaz", "kakak", "abang", "adik", "kucing oren",
)
MS_FAMILY = (
    "mak", "ayah", "abah", "ibu", "mama", "papa", "ummi", "abi", "opah", "atuk", "tok wan",
    "nenek", "tok ki", "along", "angah", "achik", "usu", "kakak", "abang", "adik", "anak",
    "isteri", "suami", "mak long", "pak ngah", "cik", "tokwan", "wan",
)
MS_ADJECTIVES = (
    "indah", "cantik", "comel", "manis", "besar", "kecil", "tinggi", "biru", "merah",
    "hijau", "kuning", "putih", "hitam", "ungu", "jingga", "baru", "lama", "tua", "muda",
    "gembira", "ceria", "bahagia", "tenang", "damai", "sunyi", "sejuk", "panas", "harum",
    "wangi", "sedap", "hebat", "gagah", "berani", "setia", "rajin", "pandai", "bijak",
    "kuat", "laju", "jauh", "gelap", "terang", "redup", "permai", "nyaman", "jernih",
    "tersayang", "terbaik", "sejati", "abadi", "gemuk", "nakal", "garang", "cerdik",
    "berjaya", "bersinar", "berduri", "kesayangan", "pertama", "terakhir",
)
MS_PLACES = (
    "kampung", "bukit", "tasik", "pantai", "pulau", "sungai", "kuala", "teluk", "taman",
    "bandar", "desa", "lembah", "tanjung", "gunung", "kebun", "sawah", "rumah", "sekolah",
)
MS_STATES = (
    "Pahang", "Kelantan", "Selangor", "Melaka", "Kuantan", "Kota Bharu", "Shah Alam",
    "Klang", "Temerloh", "Bentong", "Pekan", "Jerantut", "Pasir Mas", "Tumpat", "Machang",
    "Alor Gajah", "Jasin", "Ayer Keroh", "Cherating", "Kuala Lipis", "Raub", "Gombak",
    "Kajang", "Bangi", "Muar", "Ipoh", "Penang", "Johor", "Terengganu", "Kedah",
)
MS_PRONOUNS = ("saya", "aku", "kita", "kami", "dia", "ku")
MS_VERBS = (
    "suka", "cinta", "rindu", "sayang", "makan", "minum", "main", "pergi", "balik", "pulang",
    "jalan", "lari", "terbang", "menari", "menyanyi", "membaca", "memancing", "berkebun",
    "senyum", "ketawa", "tunggu", "ingat", "jumpa", "kejar", "suka makan", "mahu",
)
MS_ADVERBS = (
    "selalu", "sentiasa", "tetap", "masih", "paling", "sangat", "amat", "lagi", "juga",
    "selamanya", "hari ini", "setiap hari", "bersama", "di sini", "dulu", "sekarang",
)
MS_SAYINGS = (
    "selamat pagi", "selamat datang", "apa khabar", "jom makan", "jom kayuh", "alhamdulillah",
    "bismillah", "insyaallah berjaya", "jangan putus asa", "hidup biar berjasa",
    "biar lambat asalkan selamat", "kerja kuat", "rajin dan jujur", "malaysia boleh",
    "sayang semua", "lama tak jumpa", "terima kasih", "salam sayang", "syukur selalu",
    "senyum selalu", "cuti-cuti malaysia", "berkhidmat untuk negara", "semangat waja",
    "masa itu emas", "ikut rasa binasa", "selamat hari raya", "salam aidilfitri",
    "ramadan kareem", "gong xi fa cai", "selamat deepavali", "merdeka", "amanah",
    "integriti", "jaga diri", "hati-hati di jalan", "tenang je", "chill je",
)
EN_NOUNS = (
    "home", "family", "love", "sun", "moon", "star", "sky", "ocean", "river", "garden",
    "coffee", "tea", "rain", "dream", "hope", "life", "day", "morning", "night", "cat",
    "dog", "bird", "tiger", "flower", "rose", "friends", "kids", "baby", "angel",
    "princess", "king", "queen", "hero", "champion", "music", "football", "beach",
    "island", "mountain", "city", "sunshine", "rainbow", "heart", "soul", "journey",
    "world", "memories", "blessing", "smile", "bear", "boss", "lover", "rider", "team",
)
EN_ADJECTIVES = (
    "sweet", "happy", "blue", "green", "red", "golden", "silver", "lucky", "best", "little",
    "big", "beautiful", "sunny", "lovely", "crazy", "super", "brave", "forever", "true",
    "wild", "quiet", "old", "new", "dear",
)
EN_SAYINGS = (
    "never give up", "keep calm and carry on", "stay humble", "life is beautiful",
    "good morning sunshine", "carpe diem", "hakuna matata", "trust the process",
    "home sweet home", "love you mom", "love my family", "be happy", "no pain no gain",
    "just do it", "one day at a time", "dream big", "follow your heart", "stay strong",
    "hello world", "live laugh love", "thank you god", "count your blessings",
)
NAMES = (
    "Aiman", "Aisyah", "Amir", "Hafiz", "Nurul", "Siti", "Farah", "Hakim", "Irfan", "Danial",
    "Sofea", "Alya", "Iman", "Adam", "Hana", "Zul", "Azlan", "Rosli", "Faridah", "Haikal",
    "Qistina", "Aqil", "Mira", "Syafiq", "Nabila", "Izzat", "Umairah", "Wafiy", "Zahra",
    "Mei Ling", "Wei Ming", "Ah Boy", "Kumar", "Priya", "Ravi", "Devi", "Suresh", "Kavitha",
    "Oyen", "Tompok", "Comot", "Bobo", "Kiki", "Milo", "Mat", "Minah", "Timah", "Leman",
    "Jah", "Yah", "Ani", "Ali", "Abu", "Ah Chong", "Ahmad", "Aminah", "Zainab", "Khadijah",
)
# A given name made of syllables, as many Malay names are ("Nurizzah", "Aqasha").
SYLLABLES = (
    "a", "ai", "al", "am", "an", "ar", "as", "az", "da", "di", "fa", "fi", "ha", "hi", "ia",
    "il", "im", "in", "is", "iz", "ja", "ka", "la", "li", "ma", "mi", "na", "ni", "nur", "qa",
    "ra", "ri", "ru", "sa", "si", "sya", "ta", "ti", "ya", "za", "zi", "zu", "man", "ah",
)
# How people shorten words in messages.
SMS = {
    "yang": "yg", "dengan": "dgn", "saya": "sy", "untuk": "utk", "tidak": "x",
    "sayang": "syg", "aku": "aq", "kita": "kite", "sangat": "sgt", "selalu": "sll",
    "tersayang": "tsayang", "jumpa": "jmpa", "semua": "smua", "lagi": "lg", "juga": "jugak",
    "dia": "die", "mahu": "nak", "pergi": "gi", "love": "luv", "you": "u", "for": "4",
    "to": "2", "forever": "4ever",
}

# -- the stream -------------------------------------------------------------------------


class _Stream:
    """Deterministic numbers from HMAC-SHA256(key, label || counter)."""

    def __init__(self, key: bytes, label: bytes) -> None:
        self._key, self._label = key, label
        self._counter = 0
        self._buffer = b""

    def _bytes(self, n: int) -> bytes:
        while len(self._buffer) < n:
            block = hmac.new(self._key, self._label + self._counter.to_bytes(4, "big"),
                             hashlib.sha256).digest()
            self._buffer += block
            self._counter += 1
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def below(self, n: int) -> int:
        """A number in [0, n): 8 bytes reduced, so the bias is far below anything visible."""
        return int.from_bytes(self._bytes(8), "big") % n

    def chance(self, p: float) -> bool:
        return self.below(1_000_000) < int(p * 1_000_000)

    def pick(self, items: Sequence[str]) -> str:
        return items[self.below(len(items))]

    def choose(self, options: Sequence[tuple[float, T]]) -> T:
        """One of the options' values, each as likely as its weight."""
        total = sum(weight for weight, _ in options)
        point = self.below(1_000_000) / 1_000_000 * total
        for weight, value in options:
            if point < weight:
                return value
            point -= weight
        return options[-1][1]

    def weighted(self, options: Sequence[tuple[float, Callable[["_Stream"], str]]]) -> str:
        """Make a string with one of the makers, each as likely as its weight."""
        return self.choose(options)(self)


# -- shapes: what a phrase says ---------------------------------------------------------


def _year(s: _Stream) -> str:
    return str(1960 + s.below(66))


def _number(s: _Stream) -> str:
    return s.weighted([
        (4, _year),
        (4, lambda s: f"{s.below(100):02d}"),
        (2, lambda s: str(1 + s.below(9))),
        (1, lambda s: s.pick(("123", "1234", "007", "99", "88", "786", "313", "2u"))),
    ])


def _name(s: _Stream) -> str:
    if s.chance(0.2):
        return "".join(s.pick(SYLLABLES) for _ in range(2 + s.below(2))).capitalize()
    return s.pick(NAMES)


def _ms_noun_adjective(s: _Stream) -> str:
    return f"{s.pick(MS_NOUNS)} {s.pick(MS_ADJECTIVES)}"


def _ms_noun_place(s: _Stream) -> str:
    where = s.pick(MS_STATES) if s.chance(0.4) else f"{s.pick(MS_PLACES)} {s.pick(MS_ADJECTIVES)}"
    return f"{s.pick(MS_NOUNS)} di {where}"


def _ms_sentence(s: _Stream) -> str:
    words = [s.pick(MS_PRONOUNS), s.pick(MS_VERBS), s.pick(MS_NOUNS + MS_FAMILY)]
    if s.chance(0.25):
        words.append(s.pick(MS_ADVERBS))
    return " ".join(words)


def _ms_family(s: _Stream) -> str:
    return s.weighted([
        (3, lambda s: f"{s.pick(MS_FAMILY)} {s.pick(MS_ADJECTIVES)}"),
        (2, lambda s: f"{s.pick(MS_NOUNS)} {s.pick(MS_FAMILY)}"),
        (2, lambda s: f"{s.pick(MS_FAMILY)} {s.pick(MS_FAMILY)} {s.pick(('sayang', 'tersayang', 'terbaik'))}"),
        (2, lambda s: f"{s.pick(MS_FAMILY)} {_name(s)}"),
        (0.3, lambda s: f"{s.pick(MS_FAMILY)}"),
    ])


def _ms_thing(s: _Stream) -> str:
    return s.weighted([
        (1.5, lambda s: s.pick(MS_NOUNS)),
        (3, lambda s: f"{s.pick(MS_NOUNS)} {s.pick(MS_NOUNS)}"),
        (1, lambda s: s.pick(MS_STATES)),
        (1, lambda s: f"{s.pick(MS_NOUNS)} {s.pick(MS_STATES)}"),
    ])


def _en_phrase(s: _Stream) -> str:
    return s.weighted([
        (3, lambda s: f"{s.pick(EN_ADJECTIVES)} {s.pick(EN_NOUNS)}"),
        (2, lambda s: f"my {s.pick(EN_ADJECTIVES)} {s.pick(EN_NOUNS)}"),
        (2, lambda s: f"i love {s.pick(EN_NOUNS + ('my family', 'my mom', 'my cat', 'nasi lemak'))}"),
        (3, lambda s: s.pick(EN_SAYINGS)),
        (1, lambda s: f"the {s.pick(EN_ADJECTIVES)} {s.pick(EN_NOUNS)}"),
        (1, lambda s: f"{s.pick(EN_NOUNS)} {s.pick(('lover', 'forever', 'queen', 'king', 'boy', 'girl'))}"),
    ])


def _mixed(s: _Stream) -> str:
    return s.weighted([
        (2, lambda s: f"{s.pick(MS_NOUNS)} {s.pick(('lover', 'forever', 'queen', 'king', 'fan', 'team'))}"),
        (2, lambda s: f"{s.pick(EN_ADJECTIVES)} {s.pick(MS_NOUNS)}"),
        (1, lambda s: f"{s.pick(MS_FAMILY)} {s.pick(('bear', 'boss', 'hero', 'queen', 'love'))}"),
        (1, lambda s: f"{s.pick(('super', 'my', 'best'))} {s.pick(MS_FAMILY)}"),
    ])


def _name_number(s: _Stream) -> str:
    return s.weighted([
        (3, lambda s: f"{_name(s)} {_number(s)}"),
        (2, lambda s: f"{_name(s)} {_name(s)}"),
        (1, lambda s: f"{_name(s)} dan {_name(s)}"),
        (1, lambda s: f"{s.pick(MS_NOUNS)} {_number(s)}"),
        (1, lambda s: f"kelas {1 + s.below(6)} {s.pick(('amanah', 'bestari', 'cemerlang', 'dedikasi', 'A', 'B', 'C'))}"),
    ])


def _joined(s: _Stream) -> str:
    """One word without spaces: "kucingcomel88", "Oyen2019", "BungaRaya"."""
    parts = s.weighted([
        (2, lambda s: f"{s.pick(MS_NOUNS)}|{s.pick(MS_ADJECTIVES)}"),
        (2, lambda s: f"{_name(s)}"),
        (1, lambda s: f"{s.pick(EN_ADJECTIVES)}|{s.pick(EN_NOUNS)}"),
    ]).replace(" ", "|").split("|")
    if s.chance(0.5):
        word = "".join(p.capitalize() for p in parts)
    else:
        word = "".join(p.lower() for p in parts)
    return word + (_number(s) if s.chance(0.75) else "")


def _saying(s: _Stream) -> str:
    return s.pick(MS_SAYINGS)


SHAPES: tuple[tuple[float, Callable[[_Stream], str]], ...] = (
    (12, _ms_noun_adjective), (8, _ms_noun_place), (10, _ms_sentence), (10, _ms_family),
    (10, _ms_thing), (14, _en_phrase), (5, _mixed), (13, _name_number), (3, _joined),
    (12, _saying),
)

# -- how it is written ------------------------------------------------------------------


def _lower(text: str) -> str:
    return text.lower()


def _title(text: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in text.split(" "))


def _sentence(text: str) -> str:
    text = text.lower()
    return text[:1].upper() + text[1:]


def _upper(text: str) -> str:
    return text.upper()


def _as_said(text: str) -> str:
    """Lower case but names and place names capitalised, as the shapes make them."""
    return text


CASES = ((24, _lower), (55, _title), (9, _sentence), (2, _upper), (10, _as_said))
ENDINGS = ((91, ""), (4, "!"), (1.5, "."), (1, "..."), (0.5, "!!"), (1, "?"), (1, " :)"))


def _abbreviate(s: _Stream, text: str) -> str:
    return " ".join(SMS.get(w, w) if w in SMS and s.chance(0.6) else w for w in text.split(" "))


def _reduplicate(text: str) -> str:
    """"anak-anak" as people type it: "anak2"."""
    return " ".join(w.split("-")[0] + "2" if "-" in w and len(set(w.split("-"))) == 1 else w
                    for w in text.split(" "))


def _written(s: _Stream, said: str) -> str:
    text = said
    if s.chance(0.12):
        text = _abbreviate(s, text)
    if s.chance(0.5):
        text = _reduplicate(text)
    if " " in text and not any(c.isdigit() for c in text) and s.chance(0.1):
        text = f"{text} {_number(s)}"
    text = s.choose(CASES)(text)
    ending = s.choose(ENDINGS)
    if ending and text[-1:].isalnum():
        text += ending
    return text


def decoy_phrase(secret_key: str, realm: str, user_id: str) -> str:
    """Return the stable decoy phrase of ``user_id`` in ``realm`` (4-60 characters)."""
    stream = _Stream(secret_key.encode(), f"ispeks:site-key-phrase:{realm}:{user_id}".encode())
    while True:  # a handful of draws at most: nearly every one fits
        phrase = _written(stream, stream.weighted(SHAPES))
        phrase = " ".join(phrase.split())
        if MIN_LENGTH <= len(phrase) <= MAX_LENGTH:
            return phrase


def decoy_image_index(secret_key: str, realm: str, user_id: str, count: int) -> int:
    """Return the stable decoy image (an index into a gallery of ``count``) of ``user_id``."""
    stream = _Stream(secret_key.encode(), f"ispeks:site-key-image:{realm}:{user_id}".encode())
    return stream.below(count)


def vocabulary() -> frozenset[str]:
    """Every word the generator can write (lower case), before SMS spellings and numbers.

    For tests and for the residual-risk estimate: what someone holding the code knows.
    """
    words: set[str] = set()
    for group in (MS_NOUNS, MS_FAMILY, MS_ADJECTIVES, MS_PLACES, MS_STATES, MS_PRONOUNS,
                  MS_VERBS, MS_ADVERBS, MS_SAYINGS, EN_NOUNS, EN_ADJECTIVES, EN_SAYINGS, NAMES):
        for entry in group:
            words.update(entry.lower().split())
    words.update(v.lower() for v in SMS.values())
    words.update(("di", "dan", "my", "i", "love", "the", "kelas", "amanah", "bestari",
                  "cemerlang", "dedikasi", "a", "b", "c", "lover", "forever", "queen", "king",
                  "boy", "girl", "fan", "team", "bear", "boss", "hero", "super", "best",
                  "mom", "cat", "nasi", "lemak", "sayang", "tersayang", "terbaik"))
    return frozenset(words)
