"""Text normalisation against evasion, done once per message.

:func:`normalise` turns a message into the views the matcher runs on:

``raw``
    NFKC, format characters (Unicode category Cf, Hangul fillers) removed, case
    kept, nothing else changed. For rules that need genuine digits and
    punctuation: phone numbers, e-mail addresses, "Dr Smith".

``text`` (the default view for keywords and regexes)
    ``raw`` case-folded; a small set of emoji used as words turned into words
    (see :data:`EMOJI_VERBS` and :data:`EMOJI_WORDS`); accents and look-alike
    letters folded to Latin (Cyrillic/Greek homoglyphs, small capitals), the
    look-alikes only in words that mix scripts (``kіll`` with a Cyrillic ``і``,
    ``ѕuісіdе``) or digits with letters: a word wholly in Cyrillic, Greek or any
    other script is kept as written (``привет`` stays ``привет``, never
    ``npubet``); leetspeak folded inside words
    (``k1ll`` -> ``kill``, ``$uicide`` -> ``suicide``, while numbers such as ``50``
    or ``10pm`` are kept); apostrophes dropped (``don't`` -> ``dont``);
    every run of repeated letters collapsed to one letter (``kiiill`` and ``kill``
    both become ``kil``); ``wanna``/``gonna``/``gotta``/``u``/``ya``/``ur``
    expanded (``want to``, ``going to``, ``got to``, ``you``, ``you``, ``your``);
    sentence ends (``.``, ``!``, ``?`` before a space or the end) kept as a ``.`` word;
    ``-``, ``.``, ``/``, ``:`` and ``,`` between two digits kept (``555-1234``,
    ``10:30``, ``2.5``); everything else that is not a letter or a digit becomes
    a space. Words are separated by exactly one space and the view starts and
    ends with a space, so ``" kil myself "`` is a whole phrase.

``variants``
    Extra text views, made only when needed: letters spaced or dotted apart
    joined (``s u i c i d e`` -> ``suicide``; the unjoined form stays in ``text``
    because ``i m a mess`` is ordinary typing), and words masked with ``*``
    (``s**cide``) resolved against the vocabulary of the loaded keywords, and
    words broken by uneven spacing joined when the pieces make a word of that
    vocabulary (``ki ll my self`` -> ``kil myself``, ``su icide`` -> ``suicide``), and
    letters spaced apart across several words split back into words of the rules'
    vocabulary (``i w a n t t o d i e`` -> ``i want to die``, ``j v a i s m e t u e r``
    -> ``j vais me tuer``).

Spans found in any view can be mapped back to the original text with
:meth:`Normalised.original_span`; the mapping is computed lazily (only for
messages that matched), by re-running the same steps while tracking offsets.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Final

RAW: Final = -1
"""View index of the ``raw`` view in :meth:`Normalised.original_span`."""

MAX_VARIANTS: Final = 4
"""Upper bound on extra views per message (keeps the cost per message bounded)."""

_MAX_MASKED_WORDS: Final = 20
_MAX_MASKED_LENGTH: Final = 40

# Unicode category Cf (Unicode 14, Python 3.11), plus invisible "letters" used to
# evade filters (Hangul fillers, braille blank). A test checks the Cf ranges
# against unicodedata so an upgrade cannot silently open a hole.
CF_RANGES: Final = (
    (0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD),
    (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2), (0x180E, 0x180E),
    (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F),
    (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD),
    (0x13430, 0x13438), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
)
_INVISIBLE_LETTERS: Final = (0x115F, 0x1160, 0x3164, 0xFFA0)

_STRIP: dict[int, None] = {
    cp: None for lo, hi in CF_RANGES for cp in range(lo, hi + 1)
}
_STRIP.update(dict.fromkeys(_INVISIBLE_LETTERS))
# Control characters other than tab and line breaks (NUL included) are invisible in a
# chat client, so they split nothing: "my<NUL>self" reads, and matches, as "myself".
_STRIP.update(dict.fromkeys(cp for cp in (*range(0x20), 0x7F, *range(0x80, 0xA0))
                            if chr(cp) not in "\t\n\r"))
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Combining marks dropped after NFKD (accents, strike-through, variation selectors).
_MARK_RANGES: Final = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF),
                       (0x20D0, 0x20FF), (0xFE00, 0xFE0F), (0xFE20, 0xFE2F))

_LOOKALIKES: Final = {
    # Cyrillic
    "а": "a", "б": "b", "в": "b", "г": "r", "д": "d", "е": "e", "ё": "e", "з": "3",
    "и": "u", "к": "k", "л": "n", "м": "m", "н": "h", "о": "o", "п": "n", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ц": "u", "ч": "4", "ш": "w", "щ": "w",
    "ь": "b", "ы": "bi", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q",
    "ԝ": "w", "һ": "h", "ӏ": "l", "ү": "y", "ҡ": "k", "ո": "n", "ս": "u", "օ": "o",
    # Greek
    "α": "a", "β": "b", "γ": "y", "δ": "d", "ε": "e", "ζ": "z", "η": "n", "θ": "o",
    "ι": "i", "κ": "k", "λ": "l", "μ": "u", "ν": "v", "ξ": "e", "ο": "o", "π": "n",
    "ρ": "p", "σ": "o", "ς": "s", "τ": "t", "υ": "u", "φ": "o", "χ": "x", "ψ": "w",
    "ω": "w",
    # Latin oddities and small capitals
    "ı": "i", "ȷ": "j", "ɡ": "g", "ɑ": "a", "ɩ": "i", "ʀ": "r", "ᴀ": "a", "ʙ": "b",
    "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j",
    "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ǫ": "q", "ꜱ": "s",
    "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z", "ø": "o", "đ": "d",
    "ł": "l", "ħ": "h", "ŧ": "t", "æ": "ae", "œ": "oe", "þ": "th",
    # Quotes and apostrophes to ASCII
    "‘": "'", "’": "'", "ʼ": "'", "′": "'", "´": "'", "`": "'",
    "“": '"', "”": '"', "–": "-", "—": "-", "⠀": " ",
}
_FOLD: dict[int, str | None] = {ord(k): v for k, v in _LOOKALIKES.items()}
_FOLD.update({cp: None for lo, hi in _MARK_RANGES for cp in range(lo, hi + 1)})

EMOJI_VERBS: Final = {
    "\U0001f480": "kill",  # skull: "i want to 💀 myself"
    "\u2620": "kill",  # skull and crossbones
    "\U0001faa6": "kill",  # headstone
    "\u26b0": "kill",  # coffin
    "\U0001f52a": "stab",  # kitchen knife: "🔪 myself"
    "\U0001f52b": "shoot",  # pistol
    "\U0001faa2": "hang",  # knot
}
"""Emoji read as a verb when they stand right before "myself" (or yourself, themselves...)."""

EMOJI_WORDS: Final = {
    "\U0001faa6": "grave",  # headstone: "kms 🪦"
    "\u26b0": "coffin",
    "\U0001f52a": "knife",
    "\U0001f52b": "gun",
    "\U0001faa2": "rope",
    "\U0001f48a": "pills",  # pill
    "\U0001fa78": "blood",  # drop of blood
}
"""Emoji read as a word anywhere else. Other emoji (a laughing 💀 included) are dropped."""

_EMOJI_VERB = re.compile(
    "(?:" + "|".join(map(re.escape, EMOJI_VERBS)) + ")\ufe0f?"
    r"(?=[ \t]*(?:my ?self|mys[e3]lf|me ?self|your ?self|ur ?self|him ?self|her ?self|them ?sel(?:f|ves))\b)"
)
_EMOJI_WORD = re.compile("(?:" + "|".join(map(re.escape, EMOJI_WORDS)) + ")\ufe0f?")
_EMOJI_HINT: Final = frozenset(EMOJI_VERBS) | frozenset(EMOJI_WORDS)

# A word for script mixing: letters and digits, with leet symbols inside.
_SCRIPT_WORD = re.compile(r"[^\W_]+(?:[@$!|][^\W_]+)*")
_INNER_LEET = re.compile(r"[^\W\d_][\d@$!|]+[^\W\d_]")
_BEYOND_LATIN = re.compile(r"[^\W\d_\x00-\u024f]")

_LEET_DIGITS: Final = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t"}
_LEET_SYMBOLS: Final = {"@": "a", "!": "i", "|": "i", "$": "s"}
# The euro sign after a letter stands for an "e" ("z€lfmoord", "self d€lete", "m€"); a
# price ("5€", "€5") is left alone. Non-ASCII, so only the general paths look for it.
_EURO_INNER = re.compile(r"(?<=[^\W\d_])€")

# A word that has a letter next to a digit or leet symbol somewhere.
_LEET_TOKEN = re.compile(
    r"(?<![\w@$!|])[\w@$!|]*?(?:[^\W\d_][0-9@$!|]|[0-9@$!|][^\W\d_])[\w@$!|]*"
)
_NUMBER_WITH_UNIT = re.compile(r"[$@]?\d[\d$@]*[^\W\d_]{0,3}")
_NON_ASCII_NON_WORD = re.compile(r"[^\x00-\x7f\w]+")
_LEET_CHARS: Final = "0134579@$!|"
_LEET_ADJACENT = re.compile(r"[a-z][0-9@$!|]|[0-9@$!|][a-z]")
_DROP_APOSTROPHES: Final = str.maketrans("", "", "'`")
_APOSTROPHES = re.compile(r"['`]+")
# Patterns here run on every message with Python's backtracking engine, so each
# is written to stay linear: runs are only entered at their start (a lookbehind)
# and taken possessively, so a message of 60,000 "!" cannot stall the bot.
_SENTENCE_END = re.compile(r"(?<![.!?])[.!?]++(?=\s|$)")
_SENTINEL: Final = "\x00"
_EDGE_STARS_PATTERN: Final = r"(?<![^\W_])(?<!\*)\*++|(?<!\*)\*++(?![^\W_])"
# Punctuation inside numbers survives as placeholders (\x01-\x05) until the end.
_DIGIT_JOINER = re.compile(r"(?<=\d)[-./:,](?=\d)")
_PROTECT: Final = {"-": "\x01", ".": "\x02", "/": "\x03", ":": "\x04", ",": "\x05"}
_UNPROTECT: Final = str.maketrans({v: k for k, v in _PROTECT.items()})
_NON_WORD = re.compile(r"[^\w*\x00-\x05]+|_+|" + _EDGE_STARS_PATTERN)
_EDGE_STARS = re.compile(_EDGE_STARS_PATTERN)
# Offset tracking only visits real changes: the same results as _NON_WORD and
# _SPACES once whitespace is collapsed, without a match for every single space.
# (_NON_WORD is split into punctuation, underscores and edge stars for this.)
_T_PUNCTUATION = re.compile(r"[^\w*\x00-\x05 ][^\w*\x00-\x05]*")
_T_UNDERSCORES = re.compile(r"_+")
_T_SPACES = re.compile(r" {2,}")
_ASCII_NON_WORD: Final = str.maketrans(
    {i: " " for i in range(128) if not (chr(i).isalnum() or chr(i) in "*\x00\x01\x02\x03\x04\x05")}
)
_REPEAT = re.compile(r"([^\W\d_])\1+")
_LETTER_PAIRS: Final = tuple(c + c for c in "abcdefghijklmnopqrstuvwxyz")
_SPACES = re.compile(r"\s+")
_SLANG_WORDS: Final = {
    "wana": "want to", "gona": "going to", "gota": "got to",
    "u": "you", "ya": "you", "ur": "your",
}
_SLANG = re.compile(
    r"(?<= )(?:wana|gona|gota|ya|ur"
    r"|(?<! [^\W\d_] )(?<! [^\W\d_] [.\x00] )u(?! [^\W\d_] )(?! [.\x00] [^\W\d_] ))(?= )"  # not in "s u i c i d e"
)
_SLANG_HINTS: Final = (" u ", " ya ", " ur ", "wana", "gona", "gota")
_SPACED = re.compile(r"(?<= )[^\W\d_](?: (?:\. )?[^\W\d_](?= )){2,}")
_SPACED_HINT = re.compile(r" [^\W\d_] (?:\. )?[^\W\d_] (?:\. )?[^\W\d_] ")
_SPACED_SEPARATORS = re.compile(r" (?:\. )?")
_MASKED = re.compile(r"(?<= )[^ ]*\*[^ ]*(?= )")
# Runs of short words, candidates for uneven spacing ("ki ll", "su icide").
_FRAGMENTS = re.compile(r"(?<= )[^\W\d_]{1,8}+(?: [^\W\d_]{1,8}+)++(?= )")
_MAX_JOINED: Final = 4
_SHORT_WORDS: Final = frozenset({
    "a", "i", "o", "u", "y", "my", "me", "to", "in", "on", "at", "is", "it", "of", "no", "so",
    "do", "go", "be", "we", "he", "up", "an", "or", "if", "us", "as", "by", "am", "oh", "ok",
    "ya", "ur", "im", "id",
})
"""Short words that stand on their own: a piece like "my" in "my self" is not a fragment."""

Resolver = Callable[[str], Sequence[str]]
"""Maps a masked word such as ``s**cide`` to candidate words (best first)."""


def _fold_leet(m: re.Match[str]) -> str:
    tok = m.group()
    if _NUMBER_WITH_UNIT.fullmatch(tok):
        return tok  # 50mg, 10pm, 2nd, $5
    out = []
    last = len(tok) - 1
    for i, ch in enumerate(tok):
        if ch in _LEET_DIGITS:
            out.append(_LEET_DIGITS[ch])
        elif ch == "$":
            out.append("s" if i < last and tok[i + 1].isalpha() else ch)
        elif ch in _LEET_SYMBOLS:
            inner = 0 < i < last and tok[i - 1].isalnum() and tok[i + 1].isalnum()
            out.append(_LEET_SYMBOLS[ch] if inner else ch)
        else:
            out.append(ch)
    return "".join(out)


def _protect(m: re.Match[str]) -> str:
    return _PROTECT[m.group()]


def _slang(m: re.Match[str]) -> str:
    word = m.group()
    return _SLANG_WORDS.get(word) or word.replace(" ", "")


def _join_spaced(m: re.Match[str]) -> str:
    return _REPEAT.sub(r"\1", _SPACED_SEPARATORS.sub("", m.group()))


def _emoji_verb(m: re.Match[str]) -> str:
    return " " + EMOJI_VERBS[m.group()[0]] + " "


def _emoji_word(m: re.Match[str]) -> str:
    return " " + EMOJI_WORDS[m.group()[0]] + " "


def _has_emoji_words(s: str) -> bool:
    return any(ch in _EMOJI_HINT for ch in s)


@functools.lru_cache(maxsize=4096)
def _is_latin(ch: str) -> bool:
    """Whether a letter belongs to the Latin script (small capitals and IPA letters included)."""
    if ch < "\u0250":
        return ch.isalpha()
    return unicodedata.name(ch, "").startswith("LATIN")


def _is_native(word: str) -> bool:
    """A word written wholly in one non-Latin script: no Latin letter, no digit or leet
    symbol between its letters. Such words are never folded to Latin look-alikes."""
    return not any(_is_latin(ch) for ch in word) and _INNER_LEET.search(word) is None


def _native_mask(s: str) -> list[bool] | None:
    """Per character, whether it is kept as written (``None``: nothing is kept)."""
    if _BEYOND_LATIN.search(s) is None:
        return None
    mask: list[bool] | None = None
    for m in _SCRIPT_WORD.finditer(s):
        if _BEYOND_LATIN.search(m.group()) and _is_native(m.group()):
            if mask is None:
                mask = [False] * len(s)
            mask[m.start():m.end()] = [True] * (m.end() - m.start())
    return mask


def _fold_char(ch: str) -> str:
    return unicodedata.normalize("NFKD", ch).translate(_FOLD)


def _fold_scripts(s: str) -> str:
    """Accents and look-alikes folded, except in words wholly in a non-Latin script."""
    mask = _native_mask(s)
    if mask is None:
        return unicodedata.normalize("NFKD", s).translate(_FOLD)
    return "".join(ch if keep else _fold_char(ch) for ch, keep in zip(s, mask, strict=True))


def _to_raw(text: str) -> str:
    s = unicodedata.normalize("NFKC", text)
    return s if _plain(s) else s.translate(_STRIP)


def _plain(s: str) -> bool:
    """ASCII without control characters: NFKC and stripping change nothing."""
    return s.isascii() and (s.isprintable() or not _CONTROL.search(s))


def _raw_to_text(raw: str) -> str:
    return _text_ascii(raw) if raw.isascii() else _text_general(raw)


def _text_general(raw: str) -> str:
    """The reference definition of the ``text`` view (any script)."""
    s = raw.casefold()
    if not s.isascii():
        if "€" in s:
            s = _EURO_INNER.sub("e", s)
        if _has_emoji_words(s):
            s = _EMOJI_WORD.sub(_emoji_word, _EMOJI_VERB.sub(_emoji_verb, s))
        s = _fold_scripts(s)
        s = _NON_ASCII_NON_WORD.sub(" ", s)
        if s.isascii():  # only emoji, accents or look-alikes were in the way
            return _text_ascii(s)
    s = _LEET_TOKEN.sub(_fold_leet, s)
    s = s.translate(_DROP_APOSTROPHES)
    s = _DIGIT_JOINER.sub(_protect, s)
    s = _SENTENCE_END.sub(" \x00 ", s)
    s = _NON_WORD.sub(" ", s)
    s = _REPEAT.sub(r"\1", s)
    s = _SLANG.sub(_slang, " " + " ".join(s.split()) + " ")
    return s.replace(_SENTINEL, ".").translate(_UNPROTECT)


def _text_ascii(raw: str) -> str:
    """Same result as :func:`_text_general` for ASCII text, several times faster."""
    s = raw.lower()
    if any(c in s for c in _LEET_CHARS) and _LEET_ADJACENT.search(s):
        s = _LEET_TOKEN.sub(_fold_leet, s)
    if "'" in s or "`" in s:
        s = s.translate(_DROP_APOSTROPHES)
    joined = _DIGIT_JOINER.search(s) is not None
    if joined:
        s = _DIGIT_JOINER.sub(_protect, s)
    if "." in s or "!" in s or "?" in s:
        s = _SENTENCE_END.sub(" \x00 ", s)
    s = s.translate(_ASCII_NON_WORD)
    if "*" in s:
        s = _EDGE_STARS.sub(" ", s)
    for pair in _LETTER_PAIRS:
        if pair in s:
            single = pair[0]
            while pair in s:
                s = s.replace(pair, single)
    s = " " + " ".join(s.split()) + " "
    if any(w in s for w in _SLANG_HINTS):
        s = _SLANG.sub(_slang, s)
    if _SENTINEL in s:
        s = s.replace(_SENTINEL, ".")
    return s.translate(_UNPROTECT) if joined else s


class Normalised:
    """The views of one message (see the module docstring)."""

    __slots__ = ("_recipes", "_tracks", "original", "raw", "text", "variants")

    def __init__(self, original: str, raw: str, text: str,
                 variants: tuple[str, ...] = (),
                 recipes: tuple[Callable[[_Track], _Track], ...] = ()) -> None:
        self.original = original
        self.raw = raw
        self.text = text
        self.variants = variants
        self._recipes = recipes
        self._tracks: dict[int, _Track | None] = {}

    @property
    def views(self) -> tuple[str, ...]:
        """``text`` followed by the variants; view indexes refer to this tuple."""
        return (self.text, *self.variants)

    def view(self, index: int) -> str:
        """The view with this index (:data:`RAW` for the raw view)."""
        return self.raw if index == RAW else self.views[index]

    def original_span(self, index: int, start: int, end: int) -> str | None:
        """Original text behind ``view(index)[start:end]``, or ``None`` if unknown."""
        track = self._track(index)
        if track is None or not 0 <= start < end <= len(track.text):
            return None
        a = track.starts[start]
        b = track.ends[end - 1]
        return self.original[a:b] if a < b else None

    def matched_text(self, index: int, start: int, end: int) -> str:
        """Original span where it can be found, else the normalised span."""
        found = self.original_span(index, start, end)
        if found is not None and found.strip():
            return found.strip()
        return self.view(index)[start:end].strip()

    def _track(self, index: int) -> _Track | None:
        if index not in self._tracks:
            self._tracks[index] = _build_track(self, index)
        return self._tracks[index]


def _build_track(norm: Normalised, index: int) -> _Track | None:
    base = _Track.start(norm.original)
    raw = _track_raw(base)
    if index == RAW:
        return raw if raw.text == norm.raw else None
    text = _track_text(raw)
    if text.text != norm.text:
        return None
    if index == 0:
        return text
    if 0 < index <= len(norm._recipes):
        variant = norm._recipes[index - 1](text)
        return variant if variant.text == norm.variants[index - 1] else None
    return None


def normalise(text: str, resolve: Resolver | None = None) -> Normalised:
    """Normalise one message into its views (see the module docstring).

    ``resolve`` maps a word masked with ``*`` to candidate words; without it,
    masked words are left as they are.
    """
    raw = _to_raw(text)
    norm_text = _raw_to_text(raw)
    variants: list[str] = []
    recipes: list[Callable[[_Track], _Track]] = []
    if _SPACED_HINT.search(norm_text) and _SPACED.search(norm_text):
        variants.append(_SPACED.sub(_join_spaced, norm_text))
        recipes.append(_spaced_recipe)
        segment = getattr(resolve, "segment", None)
        if segment is not None:
            _add_segmented_variant(norm_text, segment, variants, recipes)
    if resolve is not None and "*" in norm_text:
        _add_mask_variants(norm_text, resolve, variants, recipes)
    words = getattr(resolve, "words", None)
    if words and len(variants) < MAX_VARIANTS:
        _add_fragment_variant(norm_text, words, variants, recipes)
    return Normalised(text, raw, norm_text, tuple(variants), tuple(recipes))


def _add_fragment_variant(text: str, words: frozenset[str], variants: list[str],
                          recipes: list[Callable[[_Track], _Track]]) -> None:
    """Join words broken by uneven spacing when the pieces make a vocabulary word.

    Two to four neighbouring pieces of at most eight letters, one of them at most
    two letters long and not a word of its own ("my", "to"), are joined if the result (repeated letters collapsed) is a
    word of at least three letters in ``words``; longer joins are tried first.
    """
    # a join needs a piece of at most two letters that is no word of its own: most
    # messages have none, and are done after one look at their words
    if all(len(w) > 2 or w in _SHORT_WORDS for w in text.split()):
        return
    joins: dict[str, str] = {}
    for m in _FRAGMENTS.finditer(text):
        pieces = m.group().split(" ")
        odd = [len(p) <= 2 and p not in _SHORT_WORDS for p in pieces]
        if not any(odd):
            continue
        i = 0
        while i < len(pieces) - 1:
            for size in range(min(_MAX_JOINED, len(pieces) - i), 1, -1):
                if not any(odd[i:i + size]):
                    continue
                window = pieces[i:i + size]
                joined = _REPEAT.sub(r"\1", "".join(window))
                if len(joined) >= 3 and joined in words:
                    joins[" ".join(window)] = joined
                    i += size - 1
                    break
            i += 1
    if not joins:
        return
    pattern = re.compile("(?<= )(?:" + "|".join(
        re.escape(k) for k in sorted(joins, key=len, reverse=True)) + ")(?= )")

    def replace(m: re.Match[str]) -> str:
        return joins[m.group()]

    variant = pattern.sub(replace, text)
    if variant not in variants:
        variants.append(variant)
        recipes.append(lambda t: t.sub(pattern, replace))


_REGEX_NOISE = re.compile(r"\\.|\[[^\]]*\]|\(\?[<!=:P]*|\{[^}]*\}")


def pattern_words(pattern: str) -> set[str]:
    """The literal words a regex spells out (``(?:quiero|voy a) morir`` -> quiero, voy,
    morir): escapes, character classes and group syntax left out."""
    return {w for w in re.findall(r"[^\W\d_]{2,}", _REGEX_NOISE.sub(" ", pattern))}


def _add_segmented_variant(text: str, segment: Callable[[str], str | None],
                           variants: list[str], recipes: list[Callable[[_Track], _Track]]
                           ) -> None:
    """Letters spaced apart, split back into vocabulary words (a view of its own: the
    joined view keeps ``s u i c i d e`` as ``suicide``)."""
    def replace(m: re.Match[str]) -> str:
        letters = _SPACED_SEPARATORS.sub("", m.group())
        return segment(letters) or _REPEAT.sub(r"\1", letters)

    if not any(len(m.group()) <= _SEGMENT_MAX * 3 for m in _SPACED.finditer(text)):
        return  # only runs too long to split: joining them is enough
    variant = _SPACED.sub(replace, text)
    if variant not in variants and len(variants) < MAX_VARIANTS:
        variants.append(variant)
        recipes.append(lambda t: t.sub(_SPACED, replace))


_SEGMENT_SHORT: Final = frozenset({
    # one- and two-letter words of the five languages, which the rules' patterns rarely
    # spell out on their own but people do write between spaced letters
    "a", "i", "y", "o", "e", "j", "l", "m", "t", "s", "d", "c", "n", "qu",
    "me", "my", "to", "do", "go", "be", "so", "no", "im", "it", "is", "in", "on", "of",
    "je", "te", "se", "le", "la", "de", "du", "tu", "ma", "ta", "va", "en", "ne", "un",
    "yo", "mi", "lo", "el", "es", "ya", "ik", "ga", "er", "ze", "ich", "zu", "am",
})
_SEGMENT_MAX: Final = 64
"""Runs of spaced letters longer than this are only joined, not split into words."""


class Segmenter:
    """Splits a run of letters into words of a vocabulary (fewest pieces, fewest letters
    left over), comparing with repeated letters collapsed as the ``text`` view does."""

    def __init__(self, vocabulary: Iterable[str]) -> None:
        words = {_REPEAT.sub(r"\1", w) for w in vocabulary if w.isalpha()}
        self.words: frozenset[str] = frozenset(words | _SEGMENT_SHORT | set(_SLANG_WORDS))
        self._longest = max((len(w) for w in self.words), default=1)
        self._cache: dict[str, str | None] = {}

    def __call__(self, letters: str) -> str | None:
        """The words of ``letters`` joined by spaces, or ``None`` when no split into
        known words (at most one unknown letter in four) exists."""
        if letters in self._cache:
            return self._cache[letters]
        found = self._split(letters) if 3 <= len(letters) <= _SEGMENT_MAX else None
        if len(self._cache) < 10_000:
            self._cache[letters] = found
        return found

    def _split(self, letters: str) -> str | None:
        n = len(letters)
        inf = (n * 10, 0)
        # best[i]: (cost, pieces) of letters[:i]; a known word costs 1, an unknown
        # letter 3; back[i] is where the last piece starts and whether it is known
        best: list[tuple[int, int]] = [(0, 0)] + [inf] * n
        back: list[tuple[int, bool]] = [(0, False)] * (n + 1)
        for end in range(1, n + 1):
            for start in range(max(0, end - self._longest * 2), end):
                if best[start] == inf:
                    continue
                piece = _REPEAT.sub(r"\1", letters[start:end])
                known = piece in self.words
                if not known and end - start > 1:
                    continue
                cost = best[start][0] + (1 if known else 3)
                if cost < best[end][0]:
                    best[end] = (cost, best[start][1] + 1)
                    back[end] = (start, known)
        pieces: list[str] = []
        unknown = 0
        end = n
        while end > 0:
            start, known = back[end]
            unknown += not known
            pieces.append(_REPEAT.sub(r"\1", letters[start:end]))
            end = start
        # mostly words of three letters or more: not "h e lo e v er yo ne"
        if len(pieces) < 2 or unknown * 4 > n or sum(len(p) for p in pieces if len(p) > 2) * 2 < n:
            return None
        # "wana" and the like read as the text view reads them ("want to")
        return " ".join(_SLANG_WORDS.get(p, p) for p in reversed(pieces))


def normalise_raw(text: str) -> str:
    """Only the ``raw`` view (``normalise(text).raw``, without the work for the others)."""
    return _to_raw(text)


def normalise_text(text: str) -> str:
    """Only the ``text`` view: used for keywords, which are normalised like messages."""
    return _raw_to_text(_to_raw(text))


def _add_mask_variants(text: str, resolve: Resolver, variants: list[str],
                       recipes: list[Callable[[_Track], _Track]]) -> None:
    choices: dict[str, Sequence[str]] = {}
    for n, m in enumerate(_MASKED.finditer(text)):
        word = m.group()
        if n >= _MAX_MASKED_WORDS:
            break
        if len(word) <= _MAX_MASKED_LENGTH and word not in choices:
            found = resolve(word)
            if found:
                choices[word] = found
    if not choices:
        return
    width = max(len(c) for c in choices.values())
    for j in range(min(width, MAX_VARIANTS - len(variants))):
        pick = {w: c[min(j, len(c) - 1)] for w, c in choices.items()}

        def replace(m: re.Match[str], pick: dict[str, str] = pick) -> str:
            return pick.get(m.group(), m.group())

        def recipe(t: _Track, replace: Callable[[re.Match[str]], str] = replace) -> _Track:
            return t.sub(_MASKED, replace)

        variants.append(_MASKED.sub(replace, text))
        recipes.append(recipe)


def mask_pattern(word: str) -> re.Pattern[str] | None:
    """A regex for the words a masked word may stand for, or ``None`` if too vague.

    Each run of ``k`` stars stands for 0 to ``k + 1`` characters (0 because the
    vocabulary has repeated letters collapsed: ``ki*l`` is ``kill`` -> ``kil``).
    At least two visible characters are needed.
    """
    visible = word.replace("*", "")
    if len(visible) < 2 or "*" not in word:
        return None
    parts = []
    for chunk in re.split(r"(\*+)", word):
        if chunk.startswith("*"):
            parts.append(f"[a-z0-9]{{0,{len(chunk) + 1}}}")
        elif chunk:
            parts.append(re.escape(chunk))
    return re.compile("".join(parts))


class MaskResolver:
    """Resolves masked words against a fixed vocabulary, indexed by first/last letter."""

    def __init__(self, vocabulary: Iterable[str], extra_words: Iterable[str] = ()) -> None:
        vocabulary = list(vocabulary)
        self._by_ends: dict[tuple[str, str], list[str]] = {}
        self._by_first: dict[str, list[str]] = {}
        self._by_last: dict[str, list[str]] = {}
        for word in sorted(set(vocabulary)):
            if len(word) < 2 or not word.isalnum():
                continue
            self._by_ends.setdefault((word[0], word[-1]), []).append(word)
            self._by_first.setdefault(word[0], []).append(word)
            self._by_last.setdefault(word[-1], []).append(word)
        self._cache: dict[str, tuple[str, ...]] = {}
        self.words: frozenset[str] = frozenset(
            w for w in vocabulary if len(w) >= 3 and w.isalpha())
        """Vocabulary words of three letters or more, for joining unevenly spaced pieces."""
        self.segment = Segmenter(list(vocabulary) + list(extra_words))
        """Splits letters spaced apart into words (the keywords' and the patterns' words)."""

    def __call__(self, word: str) -> tuple[str, ...]:
        """Candidate words for ``word`` (at most three, those of equal length first)."""
        if word in self._cache:
            return self._cache[word]
        found: tuple[str, ...] = ()
        pattern = mask_pattern(word)
        if pattern is not None:
            first, last = word[0], word[-1]
            if first != "*" and last != "*":
                pool = self._by_ends.get((first, last), [])
            elif first != "*":
                pool = self._by_first.get(first, [])
            elif last != "*":
                pool = self._by_last.get(last, [])
            else:
                pool = []
            hits = [w for w in pool if pattern.fullmatch(w)]
            hits.sort(key=lambda w: (abs(len(w) - len(word)), w))
            found = tuple(hits[:3])
        if len(self._cache) < 10_000:
            self._cache[word] = found
        return found


# ---------------------------------------------------------------------------
# Offset tracking: the same steps, slower, remembering where each char came from.


class _Track:
    """A string plus, for each character, the original span it came from."""

    __slots__ = ("ends", "starts", "text")

    def __init__(self, text: str, starts: list[int], ends: list[int]) -> None:
        self.text = text
        self.starts = starts
        self.ends = ends

    @classmethod
    def start(cls, text: str) -> _Track:
        n = len(text)
        return cls(text, list(range(n)), list(range(1, n + 1)))

    def per_char(self, fn: Callable[[str], str], keep: list[bool] | None = None) -> _Track:
        """Apply ``fn`` to each character, except those marked in ``keep``."""
        out: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        for i, (ch, a, b) in enumerate(zip(self.text, self.starts, self.ends, strict=True)):
            r = ch if keep is not None and keep[i] else fn(ch)
            out.append(r)
            starts.extend([a] * len(r))
            ends.extend([b] * len(r))
        return _Track("".join(out), starts, ends)

    def same_length(self, text: str) -> _Track:
        """The same offsets for a transformed text of equal length (``lower``, ``replace``)."""
        return _Track(text, self.starts, self.ends)

    def sub(self, pattern: re.Pattern[str], repl: str | Callable[[re.Match[str]], str]) -> _Track:
        """Like ``pattern.sub``; ``repl`` is a literal string (no group references) or a callable."""
        out: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        pos = 0
        s = self.text
        for m in pattern.finditer(s):
            r = repl(m) if callable(repl) else repl
            if r == m.group():
                continue  # unchanged: the copied run simply goes on
            a, b = m.span()
            out.append(s[pos:a])
            starts.extend(self.starts[pos:a])
            ends.extend(self.ends[pos:a])
            out.append(r)
            if len(r) == b - a:
                starts.extend(self.starts[a:b])
                ends.extend(self.ends[a:b])
            elif b > a:
                starts.extend([self.starts[a]] * len(r))
                ends.extend([self.ends[b - 1]] * len(r))
            else:
                anchor = self.starts[a] if a < len(s) else (self.ends[-1] if s else 0)
                starts.extend([anchor] * len(r))
                ends.extend([anchor] * len(r))
            pos = b
        out.append(s[pos:])
        starts.extend(self.starts[pos:])
        ends.extend(self.ends[pos:])
        return _Track("".join(out), starts, ends)

    def strip_pad(self) -> _Track:
        s = self.text
        a = len(s) - len(s.lstrip(" "))
        b = len(s.rstrip(" "))
        if a >= b:
            return _Track("  ", [0, 0], [0, 0])
        first, last = self.starts[a], self.ends[b - 1]
        return _Track(" " + s[a:b] + " ", [first, *self.starts[a:b], last],
                      [first, *self.ends[a:b], last])


def _track_raw(t: _Track) -> _Track:
    if _plain(t.text):  # NFKC and format-character removal change nothing
        return t
    t = t.per_char(lambda ch: unicodedata.normalize("NFKC", ch))
    return t.per_char(lambda ch: ch.translate(_STRIP))


def _first_group(m: re.Match[str]) -> str:
    return m.group(1)


def _track_text(t: _Track) -> _Track:
    if t.text.isascii():
        return _track_ascii(t.same_length(t.text.lower()))
    t = t.per_char(str.casefold)
    if not t.text.isascii():
        if "€" in t.text:
            t = t.sub(_EURO_INNER, "e")
        if _has_emoji_words(t.text):
            t = t.sub(_EMOJI_VERB, _emoji_verb).sub(_EMOJI_WORD, _emoji_word)
        mask = _native_mask(t.text)
        t = t.per_char(_fold_char, keep=mask)
        t = t.sub(_NON_ASCII_NON_WORD, " ")
        if t.text.isascii():
            return _track_ascii(t)
    t = t.sub(_LEET_TOKEN, _fold_leet)
    t = t.sub(_APOSTROPHES, "")
    t = t.sub(_DIGIT_JOINER, _protect)
    t = t.sub(_SENTENCE_END, " \x00 ")
    t = t.sub(_T_PUNCTUATION, " ")
    t = t.sub(_T_UNDERSCORES, " ")
    t = t.sub(_EDGE_STARS, " ")
    t = t.sub(_REPEAT, _first_group)
    t = t.sub(_T_SPACES, " ").strip_pad()
    t = t.sub(_SLANG, _slang)
    return t.same_length(t.text.replace(_SENTINEL, ".").translate(_UNPROTECT))


def _track_ascii(t: _Track) -> _Track:
    """Tracking twin of :func:`_text_ascii` (lower-case ASCII in), skipping no-op steps."""
    s = t.text
    if any(c in s for c in _LEET_CHARS) and _LEET_ADJACENT.search(s):
        t = t.sub(_LEET_TOKEN, _fold_leet)
    if "'" in t.text or "`" in t.text:
        t = t.sub(_APOSTROPHES, "")
    if _DIGIT_JOINER.search(t.text):
        t = t.sub(_DIGIT_JOINER, _protect)
    if "." in t.text or "!" in t.text or "?" in t.text:
        t = t.sub(_SENTENCE_END, " \x00 ")
    t = t.sub(_T_PUNCTUATION, " ")
    if "_" in t.text:
        t = t.sub(_T_UNDERSCORES, " ")
    if "*" in t.text:
        t = t.sub(_EDGE_STARS, " ")
    pairs = [p for p in _LETTER_PAIRS if p in t.text]
    if pairs:
        t = t.sub(re.compile("|".join(p + "+" for p in pairs)), _first_char)
    if "  " in t.text:
        t = t.sub(_T_SPACES, " ")
    t = t.strip_pad()
    if any(w in t.text for w in _SLANG_HINTS):
        t = t.sub(_SLANG, _slang)
    return t.same_length(t.text.replace(_SENTINEL, ".").translate(_UNPROTECT))


def _first_char(m: re.Match[str]) -> str:
    return m.group()[0]


def _spaced_recipe(t: _Track) -> _Track:
    return t.sub(_SPACED, _join_spaced)


# ---------------------------------------------------------------------------
# Regexes written by people, adapted to the ``text`` view.

_QUANTIFIER_START: Final = frozenset("?*{")


def _regex_tokens(pattern: str) -> list[str]:
    """Split a regex into tokens: escapes, classes and group openers stay whole."""
    tokens: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            j = i + 2
            if pattern[i + 1] in "pPx" and j < n and pattern[j] == "{":
                close = pattern.find("}", j)
                j = n if close < 0 else close + 1
            elif pattern[i + 1] == "Q":
                close = pattern.find("\\E", j)
                j = n if close < 0 else close + 2
            tokens.append(pattern[i:j])
            i = j
        elif ch == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                if pattern[j] == "\\":
                    j += 1
                elif pattern.startswith("[:", j):
                    close = pattern.find(":]", j + 2)
                    j = j if close < 0 else close + 1
                j += 1
            tokens.append(pattern[i:j + 1])
            i = j + 1
        elif ch == "(" and pattern.startswith("(?", i):
            j = i + 2
            while j < n and pattern[j] not in ":)>":
                j += 1
            tokens.append(pattern[i:j + 1])
            i = j + 1
        elif ch == "{":
            close = pattern.find("}", i)
            j = n if close < 0 else close + 1
            tokens.append(pattern[i:j])
            i = j
        else:
            tokens.append(ch)
            i += 1
    return tokens


_UMLAUTS: Final = {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "ae", "Ö": "oe", "Ü": "ue"}


def _fold_letter(ch: str) -> str:
    """An accented Latin letter as the text view has it (``é`` -> ``e``, ``ß`` -> ``ss``)."""
    if ch.isascii() or not ch.isalpha() or not _is_latin(ch):
        return ch
    folded = unicodedata.normalize("NFKD", ch.casefold()).translate(_FOLD)
    return folded if folded.isascii() and folded.isalpha() else ch


def _fold_regex_token(tok: str) -> str:
    """Accents folded in a regex token; a lone umlaut becomes ``(?:u|ue)``."""
    if tok.isascii():
        return tok
    if tok in _UMLAUTS:
        two = _UMLAUTS[tok]
        return f"(?:{two[0]}|{two})"
    if len(tok) == 1:
        folded = _fold_letter(tok)
        return folded[0] if len(folded) == 2 and folded[0] == folded[1] else folded
    if tok.startswith("["):
        return "".join(_fold_letter(ch)[:1] for ch in tok)
    return tok


def umlaut_spelling(phrase: str) -> str | None:
    """``phrase`` with German umlauts written out (``müde`` -> ``muede``), or ``None``
    if it has none. Keywords with umlauts match both spellings (see the rulebook)."""
    if not any(ch in _UMLAUTS for ch in phrase):
        return None
    return "".join(_UMLAUTS.get(ch, ch) for ch in phrase)


def normalise_regex(pattern: str) -> str:
    """Adapt a regex written for ordinary lower-case text to the ``text`` view.

    The view has repeated letters collapsed and apostrophes removed, so literal
    doubled letters are collapsed (``kill`` -> ``kil``, ``ll+`` -> ``l+``; ``ll?``
    and ``ll*`` are left alone as they already accept one letter), apostrophes
    are dropped (``don't`` -> ``dont``), and the pattern is made case-insensitive.
    Accented letters are folded as the text is (``suicídio`` -> ``suicidio``,
    ``[éè]`` -> ``[ee]``, ``ß`` -> ``s``), and the German umlauts also accept
    their two-letter spelling (``müde`` -> ``m(?:u|ue)de``, matching "müde",
    "mude" and "muede"). Escapes are not touched.
    """
    tokens = [_fold_regex_token(t) for t in _regex_tokens(pattern)]
    out: list[str] = []
    for k, tok in enumerate(tokens):
        if tok in ("'", "’"):
            continue
        nxt = tokens[k + 1] if k + 1 < len(tokens) else ""
        if (len(tok) == 1 and tok.isalpha() and out and out[-1].lower() == tok.lower()
                and nxt[:1] not in _QUANTIFIER_START):
            if nxt == "+":
                out.pop()
                out.append(tok)
            continue
        out.append(tok)
    return "(?i)" + "".join(out)
