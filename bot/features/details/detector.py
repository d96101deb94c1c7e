"""Which KINDS of identifying detail one post reveals (never which details).

:func:`detect` runs compiled patterns over the ``raw`` view of
:func:`bot.rules.normalise.normalise` (NFKC, format characters removed, case kept:
names are told from words by their capital letter). Each kind has patterns in
English, Dutch, German, Spanish and French: a first-person lead-in ("my name is",
"ik woon in", "je travaille chez"...) followed by something named. A bare word is
never enough: "I work at a shop", "my school was fun" and "Dr Who" reveal nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.rules.normalise import normalise_raw

KINDS: tuple[str, ...] = ("full_name", "school", "workplace", "place", "clinician",
                          "age_place", "handle")
"""Every kind of identifying detail, in the order they are named to a member."""

_UP = "A-ZÀ-ÖØ-ÞĀĂĄĆČĎĐĒĖĘĚĞĢĪĮİĶĹĻĽŁŃŅŇŌŐŒŔŘŚŞŠŢŤŪŮŰŲŹŻŽ"
_LOW = "a-zß-öø-ÿāăąćčďđēėęěğģīįıķĺļľłńņňōőœŕřśşšţťūůűųźżž"
NAME = rf"(?:[{_UP}][{_LOW}]+(?:[-'’][{_UP}]?[{_LOW}]+)?)"
"""One capitalised name word: ``Leeds``, ``O'Neil``, ``Müller``, ``Jean-Luc``."""
NAMES = rf"(?:{NAME}(?:\s+(?:{NAME}|of|de|la|van|der|von|St\.?))*)"
"""A name of one or more capitalised words (``St Mary's``, ``Universidad de Sevilla``)."""
FULL = rf"(?:{NAME}\s+(?:(?:van|de|der|von|da|del|le|la)\s+)*{NAME})"
"""A first and last name: two capitalised words, a particle allowed between."""
HANDLE = r"(?:@[A-Za-z0-9_.]{2,30}|[A-Za-z0-9_.]{2,30}(?:#\d{4})?)(?![\w@])"
"""A social handle, with or without ``@`` (a Discord tag may end in ``#1234``)."""

_NOT_NAMES = frozenset({
    "so", "not", "just", "very", "really", "fine", "ok", "okay", "good", "bad", "sad", "tired",
    "done", "here", "there", "back", "home", "new", "going", "feeling", "trying", "still",
    "also", "always", "never", "sorry", "glad", "happy", "scared", "afraid", "worried",
    "proud", "sure", "alive", "exhausted", "depressed", "anxious", "lonely", "lost", "stuck",
    "angry", "of", "the", "and", "to", "in", "a", "an", "nacht", "tag", "hause", "morgen",
    "abend", "woche", "monat", "jahr", "zeit", "arbeit", "schule",
})
"""Capitalised words that follow a lead-in but are not names ("I'm So Tired")."""

_NOT_HANDLES = frozenset({
    "private", "public", "deleted", "gone", "down", "dead", "not", "off", "on", "blocked",
    "closed", "open", "a", "an", "the", "my", "mine", "it", "this", "that", "there", "here",
    "banned", "hacked", "empty", "new", "old", "privé", "privée", "privado", "privada",
    "gelöscht", "privat", "verwijderd", "prive", "borrado", "supprimé",
})
"""Words that follow "my insta is" but are no handle ("my insta is private")."""


def _ci(pattern: str) -> str:
    """A lead-in matched whatever its case (the names after it keep theirs)."""
    return f"(?i:{pattern})"


_PLATFORMS = _ci(r"insta(?:gram)?|ig|snap(?:chat)?|sc|tik\s?tok|discord|twitter|x|"
                 r"telegram|reddit|tumblr|twitch|youtube|yt|threads|bluesky|bsky|kik|"
                 r"facebook|fb|steam|psn|xbox")

_PROFILE_LINK = (r"\b(?:https?://)?(?:www\.)?(?:instagram\.com|tiktok\.com/@|twitter\.com|"
                 r"x\.com|snapchat\.com/add|facebook\.com|reddit\.com/u(?:ser)?|"
                 r"tumblr\.com|twitch\.tv|youtube\.com/@|bsky\.app/profile|t\.me)"
                 r"/?[A-Za-z0-9_.]{2,}")

_CLINICIANS_EN = _ci(r"therapist|psychiatrist|psychologist|counsell?or|doctor|gp|nurse|cpn|"
                     r"care\s+co-?ordinator|key\s*worker|consultant")
_INSTITUTIONS_EN = r"(?:High\s+School|School|College|University|Uni|Academy|Sixth\s+Form)"
_STREETS_EN = (r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Close|Drive|Dr|Way|Crescent|Terrace|"
               r"Place|Grove|Court)")

def _lead(pattern: str, rest: str) -> str:
    """A case-insensitive lead-in (after a word boundary), some space, then ``rest``."""
    return r"\b" + _ci(pattern) + r"\s*" + rest


_DR_EN = _ci(r"dr\.?|doctor|mr|mrs|ms|miss") + r"\s+"
_CLINIC_EN = (r"(?:Clinic|Hospital|Practice|Surgery|Medical\s+Centre|Health\s+Centre|Unit|"
              r"Infirmary)")
_NL_SCHOOL = r"(?:[Cc]ollege|[Ll]yceum|[Gg]ymnasium|[Hh]ogeschool|[Ss]chool)"
_DE_SCHOOL = r"(?:Gymnasium|Realschule|Gesamtschule|Schule|Universität|Hochschule)"
_DE_SCHOOL_FIRST = r"(?:Universität|Uni|Hochschule|Gymnasium|Realschule|Gesamtschule)"
_ES_SCHOOL = _ci(r"colegio|instituto|universidad|escuela|IES")
_FR_SCHOOL = _ci(r"lycée|collège|université|école|fac")
_HANDLE_AT = r"(?:@[A-Za-z0-9_.]{2,30}|[A-Za-z0-9_.]{2,30}#\d{4})(?![\w@])"

_ART_ES = _ci('el|la')
_CLINIC_ES = _ci('hospital|clínica|clinica|centro de salud')
_CLINIC_FR = _ci('hôpital|clinique|chu|cmp')
_CLINIC_NL = _ci('kliniek|ziekenhuis|ggz')
_ART_FR = _ci('le|la')
_MY = _ci('my')
_MY_ANY = _ci('my|mijn|mein|meine|mi|mon|ma')
_ON_ANY = _ci('on|op|auf|en|sur')
_DR_FR = _ci(r'dr\.?|docteur|docteure|madame|monsieur')
_DR_ANY = _ci(r'dr\.?|doctor')
_DR_NL = _ci(r'dr\.?|dokter|mevrouw|meneer')
_DR_ES = _ci(r'dr\.?|dra\.?|doctor|doctora')
_DR_DE = _ci(r'dr\.?|frau|herr')

PATTERNS: dict[str, tuple[re.Pattern[str], ...]] = {
    "full_name": tuple(re.compile(p) for p in (
        _lead(r"my\s+(?:full\s+|real\s+)?name\s+is|(?:I'm|I’m|I\s+am|im)\s+called",
              rf"(?P<n>{FULL})"),
        rf"\b(?:I'm|I’m|I\s+am)\s+(?P<n>{FULL})\b",
        _lead(r"mijn\s+(?:volledige\s+)?naam\s+is|ik\s+heet|ik\s+ben", rf"(?P<n>{FULL})"),
        # de: "ich bin" is left out (German nouns are capitalised)
        _lead(r"mein\s+(?:voller\s+|richtiger\s+)?name\s+ist|ich\s+hei(?:ß|ss)e",
              rf"(?P<n>{FULL})"),
        _lead(r"me\s+llamo|mi\s+nombre\s+(?:completo\s+)?es|soy", rf"(?P<n>{FULL})"),
        _lead(r"je\s+m(?:'|’|e\s+)appelle|mon\s+(?:vrai\s+)?nom\s+(?:complet\s+)?"
              r"(?:est|c'est|c’est)", rf"(?P<n>{FULL})"),
    )),
    "school": tuple(re.compile(p) for p in (
        _lead(r"I\s+(?:go|went)\s+to|I\s+(?:study|studied|am\s+studying)\s+at|"
              r"I'm\s+(?:at|studying\s+at)|(?:at|attend)\s+my|I\s+attend|in\s+year\s+\d+\s+at|"
              r"my\s+(?:school|college|uni|university|sixth\s+form)\s*(?:is|was|,|:)?",
              rf"(?:called\s+)?(?:the\s+)?(?P<n>{NAMES}\s+{_INSTITUTIONS_EN}\b|"
              rf"University\s+of\s+{NAMES})"),
        _lead(r"ik\s+(?:zit|zat)\s+op|ik\s+studeer(?:de)?\s+aan|mijn\s+school\s+(?:is|heet)",
              rf"(?:het\s+|de\s+)?(?P<n>{NAMES}\s*{_NL_SCHOOL}|"
              rf"(?:Universiteit|Hogeschool)\s+(?:van\s+)?{NAMES})"),
        _lead(r"ich\s+(?:gehe|ging)\s+(?:auf|zur|zum|in)|ich\s+studier(?:e|te)\s+an|"
              r"meine\s+schule\s+ist",
              rf"(?:die\s+|das\s+|der\s+|dem\s+)?(?P<n>{NAME}[- ]{_DE_SCHOOL}|"
              rf"{_DE_SCHOOL_FIRST}\s+{NAMES})"),
        _lead(r"estudio\s+en|estudi[eé]\s+en|voy\s+al|voy\s+a\s+la|"
              r"mi\s+(?:colegio|instituto|universidad|escuela)\s+es",
              rf"(?:el\s+|la\s+)?(?P<n>{_ES_SCHOOL}\s+(?:de\s+)?{NAMES})"),
        _lead(r"je\s+suis\s+(?:au|à\s+l'|à\s+la)|je\s+vais\s+(?:au|à\s+l'|à\s+la)|"
              r"j'étudie\s+(?:à\s+l'|à\s+la)|mon\s+(?:lycée|collège)\s+c'est\s+le|"
              r"je\s+suis\s+en\s+\w+\s+(?:au|à\s+l')",
              rf"(?P<n>{_FR_SCHOOL}\s+(?:de\s+)?{NAMES})"),
    )),
    "workplace": tuple(re.compile(p) for p in (
        _lead(r"I\s+(?:work|worked|am\s+working)\s+(?:at|for)|I'm\s+working\s+(?:at|for)|"
              r"my\s+(?:job|work|workplace|employer)\s+is(?:\s+at)?|"
              r"I'm\s+an?\s+\w+\s+at|I\s+am\s+an?\s+\w+\s+at",
              rf"(?:the\s+)?(?P<n>{NAMES})"),
        _lead(r"ik\s+(?:werk|werkte)\s+(?:bij|voor)", rf"(?:de\s+|het\s+)?(?P<n>{NAMES})"),
        _lead(r"ich\s+(?:arbeite|arbeitete|jobbe)\s+(?:bei|für)|mein\s+arbeitgeber\s+ist",
              rf"(?:der\s+|dem\s+|den\s+)?(?P<n>{NAMES})"),
        _lead(r"trabajo\s+(?:en|para)|trabajé\s+(?:en|para)", rf"(?:el\s+|la\s+)?(?P<n>{NAMES})"),
        _lead(r"je\s+(?:travaille|bosse|travaillais)\s+(?:chez|pour)", rf"(?P<n>{NAMES})"),
    )),
    "place": tuple(re.compile(p) for p in (
        _lead(r"I\s+live\s+in|I'm\s+from|I\s+am\s+from|I\s+grew\s+up\s+in|I\s+come\s+from|"
              r"my\s+(?:town|village|city)\s+is", rf"(?P<n>{NAMES})"),
        _lead(r"ik\s+woon\s+in|ik\s+kom\s+uit|mijn\s+(?:dorp|stad)\s+is", rf"(?P<n>{NAMES})"),
        _lead(r"ich\s+wohne\s+in|ich\s+komme\s+aus|ich\s+lebe\s+in|mein\s+(?:dorf|wohnort)\s+ist",
              rf"(?P<n>{NAMES})"),
        _lead(r"vivo\s+en|soy\s+de|mi\s+pueblo\s+es|mi\s+ciudad\s+es", rf"(?P<n>{NAMES})"),
        _lead(r"j'habite\s+(?:à|a)|j’habite\s+(?:à|a)|je\s+viens\s+de|je\s+vis\s+(?:à|a)|"
              r"je\s+suis\s+de", rf"(?P<n>{NAMES})"),
    )),
    "street": tuple(re.compile(p) for p in (
        rf"\b\d{{1,4}}[a-z]?\s+{NAMES}\s+{_STREETS_EN}\b",
        rf"\b{NAME}(?:straat|laan|weg|plein|gracht|singel|kade)\s+\d{{1,4}}",
        rf"\b{NAME}(?:straße|strasse|str\.|gasse|allee|platz|weg)\s+\d{{1,4}}",
        _lead(r"calle|avenida|avda\.|plaza|paseo",
              rf"(?:de\s+(?:la\s+)?)?{NAMES},?\s+\d{{1,4}}"),
        r"\b\d{1,4},?\s+" + _ci(r"rue|avenue|boulevard|bd|allée|impasse|chemin")
        + rf"\s+(?:de\s+(?:la\s+)?|du\s+|des\s+|d')?{NAMES}",
        r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[ABD-HJLNP-UW-Z]{2}\b",
        r"\b[1-9]\d{3}\s?(?!SA|SD|SS)[A-Z]{2}\b",
    )),
    "clinician": tuple(re.compile(p) for p in (
        rf"\b{_MY}\s+{_CLINICIANS_EN}(?:\s*,\s*|\s+is\s+|\s+called\s+|\s+)"
        rf"(?:{_DR_EN})?(?P<n>{NAME})",
        _lead(r"seeing|see|saw|seen\s+by|referred\s+to", rf"{_DR_ANY}\s+(?P<n>{NAME})"),
        _lead(r"at|in|to", rf"(?:the\s+)?(?P<n>{NAMES}\s+{_CLINIC_EN})"),
        _lead(r"mijn\s+(?:therapeut|psychiater|psycholoog|huisarts|behandelaar|psych)\s+"
              r"(?:is|heet)", rf"(?:{_DR_NL}\s+)?(?P<n>{NAME})"),
        _lead(r"bij|in\s+het|in", rf"(?:de\s+|het\s+)?(?P<n>{_CLINIC_NL}\s+"
              rf"{NAMES}|{NAMES}\s*(?:[Kk]liniek|[Zz]iekenhuis|MC))"),
        _lead(r"mein(?:e)?\s+(?:therapeut(?:in)?|psychiater(?:in)?|psycholog(?:e|in)|"
              r"haus(?:arzt|ärztin)|arzt|ärztin)(?:\s+(?:ist|heißt|heisst))?",
              rf"{_DR_DE}\s+(?P<n>{NAME})"),
        _lead(r"in\s+der|im|in", rf"(?P<n>{NAME}-?Klinik|Klinik(?:um)?\s+{NAMES}|"
              rf"{NAME}-?Krankenhaus|Krankenhaus\s+{NAMES})"),
        _lead(r"mi\s+(?:psicólog[oa]|psiquiatra|terapeuta|médic[oa])(?:\s+(?:es|se\s+llama))?",
              rf"(?:{_ART_ES}\s+)?(?:{_DR_ES}\s+)?(?P<n>{NAME})"),
        _lead(r"en\s+el|en\s+la", rf"(?P<n>{_CLINIC_ES}\s+"
              rf"(?:de\s+)?{NAMES})"),
        _lead(r"(?:mon|ma)\s+(?:psy|psychiatre|psychologue|thérapeute|médecin|docteur)"
              r"(?:\s+(?:c'est|s'appelle|est))?",
              rf"(?:{_ART_FR}\s+)?(?:{_DR_FR}\s+)?"
              rf"(?P<n>{NAME})"),
        _lead(r"à\s+l'|à\s+la|au", rf"(?P<n>{_CLINIC_FR}\s+(?:de\s+)?{NAMES})"),
    )),
    "age_place": tuple(re.compile(p) for p in (
        _lead(r"I'm|I’m|I\s+am|im", r"\d{1,2}\s*" + _ci(
            r"(?:yo|y/o|years?\s+old)?\s*,?\s*(?:and\s+)?(?:I\s+)?"
            r"(?:from|in|living\s+in|live\s+in)")
            + rf"\s+(?P<n>{NAMES})"),
        rf"\b\d{{1,2}}\s*/\s*[mfMFnN]\s*/\s*(?P<n>{NAMES})",
        _lead(r"ik\s+ben", r"\d{1,2}\s*" + _ci(
            r"(?:jaar(?:\s+oud)?)?\s*,?\s*(?:en\s+)?(?:kom\s+uit|uit|woon\s+in)")
            + rf"\s+(?P<n>{NAMES})"),
        _lead(r"ich\s+bin", r"\d{1,2}\s*" + _ci(
            r"(?:jahre(?:\s+alt)?)?\s*,?\s*(?:und\s+)?(?:komme\s+aus|aus|wohne\s+in|lebe\s+in)")
            + rf"\s+(?P<n>{NAMES})"),
        _lead(r"tengo", r"\d{1,2}\s*" + _ci(r"(?:años)?\s*,?\s*y\s+(?:soy\s+de|vivo\s+en)")
              + rf"\s+(?P<n>{NAMES})"),
        _lead(r"j'ai|j’ai", r"\d{1,2}\s*" + _ci(
            r"ans\s*,?\s*(?:et\s+)?(?:j'habite\s+(?:à|a)|j’habite\s+(?:à|a)|je\s+viens\s+de|"
            r"je\s+suis\s+de|je\s+vis\s+(?:à|a))") + rf"\s+(?P<n>{NAMES})"),
    )),
    "handle": tuple(re.compile(p) for p in (
        rf"\b{_MY_ANY}\s+(?:{_PLATFORMS})\s*"
        + r"(?:" + _ci(r"handle|name|username|account|tag|@") + r"\s*)?"
        + r"(?:" + _ci(r"is|ist|es|c'est|est|=") + r"\s*|:\s*)" + rf"(?P<n>{HANDLE})",
        _lead(r"follow\s+me|add\s+me|find\s+me|dm\s+me|hit\s+me\s+up|volg\s+me|voeg\s+me\s+toe|"
              r"folgt?\s+mir|add(?:e|et)?\s+mich|sígueme|sigueme|agrégame|agregame|"
              r"suivez-moi|suis-moi|ajoute-moi|ajoutez-moi",
              rf"(?:{_ON_ANY}\s+)?(?:{_PLATFORMS})?\s*:?\s*(?P<n>{_HANDLE_AT})"),
        rf"(?P<n>{_PROFILE_LINK})",
    )),
}
"""Compiled patterns by kind (``street`` is a part of the ``place`` kind)."""

def _name_ok(kind: str, m: re.Match[str]) -> bool:
    """Whether the named part of a match is a name (not "So" or "private")."""
    named = m.groupdict().get("n")
    if named is None:
        return True
    words = [w.lower().strip("@") for w in named.split()] or [""]
    if kind == "handle":
        return words[0] not in _NOT_HANDLES and any(c.isalnum() for c in words[0])
    if kind == "full_name":  # "I'm Proud Of You" is no name
        return not any(w in _NOT_NAMES for w in words)
    return words[0] not in _NOT_NAMES


_UPPER, _DIGIT, _AT, _DOT = "upper", "digit", "@", "."
NEEDS: dict[str, tuple[frozenset[str], ...]] = {
    **{kind: (frozenset({_UPPER}),) * len(PATTERNS[kind])
       for kind in ("full_name", "school", "workplace", "place", "clinician", "age_place")},
    "street": (frozenset({_DIGIT}),) * len(PATTERNS["street"]),
    "handle": (frozenset(), frozenset({_AT, _DIGIT}), frozenset({_DOT})),
}
"""The cheap pre-filter: per pattern, what a text needs (any one of) for it to match at all
(empty: nothing). Every pattern of a kind that names something needs a capital letter
(:data:`NAME`), a street or postcode a digit, a handle after "add me" an ``@`` (or a
Discord tag's digits), a profile link a dot. Most chat has no capital, digit, ``@`` or
dot beyond a sentence's end, and is done after one look; a test checks the pre-filter
changes no answer."""

_ANY_DIGIT = re.compile(r"\d")


_EVERY_FEATURE = frozenset({_UPPER, _DIGIT, _AT, _DOT})
_PLAN = tuple((kind, tuple(zip(patterns, NEEDS[kind], strict=True)))
              for kind, patterns in PATTERNS.items())


def features(raw: str) -> frozenset[str]:
    """Which of the pre-filter's features (:data:`NEEDS`) the raw view ``raw`` has."""
    found = set()
    if raw != raw.lower():  # every letter of NAME's capitals has a lower case
        found.add(_UPPER)
    if _ANY_DIGIT.search(raw):
        found.add(_DIGIT)
    if "@" in raw:
        found.add(_AT)
    if "." in raw:
        found.add(_DOT)
    return frozenset(found)


def detect(text: str, prefilter: bool = True) -> frozenset[str]:
    """The kinds of identifying detail ``text`` reveals (members of :data:`KINDS`).

    A post counts each kind once. A town named together with an age counts as
    ``age_place`` alone, not also as a town. ``prefilter=False`` runs every pattern
    (the same answer, slower; for tests).
    """
    raw = normalise_raw(text)
    has = features(raw) if prefilter else _EVERY_FEATURE
    found: set[str] = set()
    for name, patterns in _PLAN:
        for pattern, needs in patterns:
            if needs and has.isdisjoint(needs):
                continue
            if any(_name_ok(name, m) for m in pattern.finditer(raw)):
                found.add(name)
                break
    if "age_place" in found:
        found.discard("place")
    if "street" in found:
        found.discard("street")
        found.add("place")
    return frozenset(found)


def in_order(kinds: Iterable[str]) -> list[str]:
    """``kinds`` in the order of :data:`KINDS` (unknown kinds last, sorted)."""
    known = [k for k in KINDS if k in set(kinds)]
    return known + sorted(set(kinds) - set(KINDS))
