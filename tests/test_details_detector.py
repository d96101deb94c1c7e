"""The identifying-details detector: every kind, five languages, match and no-match."""

from __future__ import annotations

import pytest

from bot.features.details.detector import KINDS, PATTERNS, detect, in_order

# (kind, language, text that reveals it, a near miss that does not)
CASES: list[tuple[str, str, str, str]] = [
    # full name
    ("full_name", "en", "hi all, my name is Priya Raman and I'm new", "my name is not important"),
    ("full_name", "en", "I'm Tom Hargreaves btw", "I'm So Tired of this"),
    ("full_name", "nl", "hoi, ik heet Sanne de Vries", "ik heet jullie welkom"),
    ("full_name", "de", "hallo, ich heiße Lena Fischer", "ich heiße alle willkommen"),
    ("full_name", "es", "hola, me llamo Lucía Romero", "me llamo a mí misma tonta"),
    ("full_name", "fr", "salut, je m'appelle Camille Girard", "je m'appelle comme ma mère"),
    # school, college, university (named)
    ("school", "en", "I go to Fairfield High School", "my school was fun today"),
    ("school", "en", "I'm studying at University of Bristol", "I go to school by bus"),
    ("school", "nl", "ik zit op het Stedelijk Lyceum", "ik zit op school"),
    ("school", "de", "ich gehe auf das Schiller-Gymnasium", "ich gehe zur Schule"),
    ("school", "es", "estudio en la Universidad de Granada", "voy al colegio mañana"),
    ("school", "fr", "je suis au lycée Jean Moulin", "je vais au lycée demain"),
    # workplace
    ("workplace", "en", "I work at Greggs on weekends", "I work at a shop"),
    ("workplace", "en", "I'm a cashier at Morrisons", "I work for myself"),
    ("workplace", "nl", "ik werk bij Albert Heijn", "ik werk bij een winkel"),
    ("workplace", "de", "ich arbeite bei Bosch", "ich arbeite bei einer Bank"),
    ("workplace", "es", "trabajo en Mercadona", "trabajo en una tienda"),
    ("workplace", "fr", "je travaille chez Decathlon", "je travaille chez moi"),
    # town or street
    ("place", "en", "I live in Whitby", "I live in hope"),
    ("place", "en", "it's at 14 Holly Road", "I walked down the road"),
    ("place", "en", "post it to LS6 3AB please", "call me at 6 am"),
    ("place", "nl", "ik woon in Zwolle", "ik woon in een flat"),
    ("place", "nl", "ik woon op de Kerkstraat 12", "de straat is lang"),
    ("place", "de", "ich wohne in Bamberg", "ich wohne in einer WG"),
    ("place", "de", "bei mir, Lindenstraße 4", "die Straße ist laut"),
    ("place", "es", "vivo en Cádiz", "vivo en un piso"),
    ("place", "es", "estoy en Calle Mayor 10", "la calle está vacía"),
    ("place", "fr", "j'habite à Rennes", "j'habite à côté"),
    ("place", "fr", "au 8 rue Victor Hugo", "la rue est calme"),
    # clinician or clinic
    ("clinician", "en", "my therapist Dr Adeyemi is lovely", "Dr Who is on tonight"),
    ("clinician", "en", "I was admitted to the Priory Hospital", "my therapist is on holiday"),
    ("clinician", "nl", "mijn psycholoog heet Marieke", "mijn psycholoog is ziek"),
    ("clinician", "de", "meine Therapeutin ist Frau Becker", "meine Therapeutin ist nett"),
    ("clinician", "es", "mi psicóloga se llama Marta", "mi psicóloga es muy buena"),
    ("clinician", "fr", "ma psy c'est le docteur Lambert", "ma psy est gentille"),
    ("clinician", "fr", "je suis suivie à l'hôpital Sainte-Anne", "je suis allée à l'hôpital"),
    # age with place
    ("age_place", "en", "I'm 16 from Leeds", "I'm 16 and tired"),
    ("age_place", "en", "17/f/Glasgow", "I'm 16 from tomorrow on"),
    ("age_place", "nl", "ik ben 15 en woon in Almere", "ik ben 15 en moe"),
    ("age_place", "de", "ich bin 16 und komme aus Kassel", "ich bin 16 und müde"),
    ("age_place", "es", "tengo 17 años y vivo en Murcia", "tengo 17 años y estoy cansada"),
    ("age_place", "fr", "j'ai 15 ans et j'habite à Nantes", "j'ai 15 ans et j'ai peur"),
    # social handle
    ("handle", "en", "my insta is @sunny.days_22", "my insta is private now"),
    ("handle", "en", "add me on discord: moonlit#4821", "thanks @sam for listening"),
    ("handle", "en", "instagram.com/sunny.days_22", "I deleted instagram"),
    ("handle", "nl", "volg me op insta @lotte.xo", "volg je hart"),
    ("handle", "de", "mein Snap ist lenchen_04", "mein Snap ist gelöscht"),
    ("handle", "es", "sígueme en tiktok @lu.romero", "sígueme en este hilo"),
    ("handle", "fr", "mon insta c'est @cami.grd", "mon insta c'est privé"),
]


@pytest.mark.parametrize(("kind", "lang", "text", "miss"), CASES,
                         ids=[f"{k}-{lang}-{i}" for i, (k, lang, _, _) in enumerate(CASES)])
def test_each_kind_matches_and_its_near_miss_does_not(kind: str, lang: str, text: str,
                                                      miss: str) -> None:
    assert kind in detect(text), text
    assert detect(miss) == frozenset(), miss


def test_every_kind_is_covered_in_every_language() -> None:
    covered = {(k, lang) for k, lang, _, _ in CASES}
    assert covered == {(k, lang) for k in KINDS for lang in ("en", "nl", "de", "es", "fr")}


def test_a_post_counts_each_kind_once() -> None:
    text = "my name is Priya Raman. My name is Priya Raman! I live in Whitby, 14 Holly Road"
    assert detect(text) == {"full_name", "place"}


def test_age_with_a_town_is_age_place_not_also_a_town() -> None:
    assert detect("I'm 16 from Leeds") == {"age_place"}
    assert detect("I'm 16 from Leeds, 14 Holly Road") == {"age_place", "place"}


def test_odd_unicode_is_normalised_first() -> None:
    # full-width letters and a zero-width space are folded by the raw view
    assert "place" in detect("I live in Ｗhitby")
    assert "workplace" in detect("I work at Gre\u200bggs")
    assert detect("") == frozenset() and detect("\u200b\u200b") == frozenset()


def test_title_case_feelings_are_no_names() -> None:
    for text in ("I'm So Tired", "I'm Proud Of You", "I am Really Sorry", "I'm Not Okay"):
        assert detect(text) == frozenset(), text
    assert detect("I'm Tom Hargreaves") == {"full_name"}


def test_kinds_are_named_in_a_fixed_order() -> None:
    assert in_order({"handle", "full_name", "school"}) == ["full_name", "school", "handle"]
    assert set(PATTERNS) == {*KINDS, "street"}


def test_the_prefilter_changes_no_answer() -> None:
    """The cheap pre-filter (capitals, digits, ``@``, dots) skips only patterns that cannot
    match: the same kinds as running every pattern, on the corpus and altered copies."""
    import random
    from pathlib import Path

    from bot.detection.corpus import load_corpus

    texts = [e.text for e in load_corpus(Path(__file__).resolve().parents[1] / "corpus")]
    rng = random.Random(7)
    texts += [t.lower() for t in texts[::3]] + [t.upper() for t in texts[1::7]]
    texts += [f"my insta is {w}" for w in ("jane_doe", "private", "@Jo.B")]
    texts += [t.replace(" ", f" {rng.randint(1, 99)} ", 1) for t in texts[::5]]
    assert len(texts) > 10_000
    assert [t for t in texts if detect(t) != detect(t, prefilter=False)] == []
    assert sum(bool(detect(t)) for t in texts) > 100  # it does find details


def test_plain_lower_case_chat_skips_the_patterns_that_need_a_capital() -> None:
    from bot.features.details.detector import NEEDS, PATTERNS, features

    assert features("i live in leeds and work at tesco") == frozenset()
    assert detect("i live in leeds and work at tesco") == frozenset()  # no capital: no name
    assert detect("my insta is jane_doe") == {"handle"}  # a handle needs none
    assert features("I live in Leeds, 12 Main St.") == {"upper", "digit", "."}
    assert all(len(NEEDS[k]) == len(PATTERNS[k]) for k in PATTERNS)
