"""The matcher: one automaton for every keyword, RE2 sets for regexes, whole words only."""

from __future__ import annotations

import pytest

from bot.rules.matcher import RAW_VIEW, Atom, Hit, Matcher
from bot.rules.normalise import RAW, normalise_regex, normalise_text


def kw(phrase: str) -> Atom:
    return Atom("keyword", normalise_text(phrase).strip())


def found(matcher: Matcher, text: str) -> set[int]:
    return set(matcher.find(text))


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("i want to kill myself", True),
        ("KILL MYSELF", True),
        ("kill myself.", True),
        ("(kill myself)", True),
        ("kill, myself", True),  # punctuation between words is a space
        ("skill myself", False),  # not a whole word at the start
        ("kill myselfish", False),  # nor at the end
        ("killmyself", False),
        ("kill. myself", False),  # a sentence end is a word of its own
        ("kill my self", False),  # rules spell out "my self" where they want it
    ],
)
def test_keywords_match_whole_words_only(text: str, hit: bool) -> None:
    matcher = Matcher([kw("kill myself")])
    assert (0 in found(matcher, text)) is hit


def test_overlapping_and_nested_keywords_all_hit() -> None:
    matcher = Matcher([kw("want to die"), kw("to die"), kw("die"), kw("i want")])
    assert found(matcher, "I want to die") == {0, 1, 2, 3}


def test_the_same_phrase_in_several_atoms() -> None:
    matcher = Matcher([kw("kms"), kw("KMS"), kw("other")])
    assert found(matcher, "ugh kms") == {0, 1}
    assert matcher.keyword_count == 2  # one entry in the automaton per distinct phrase


def test_hit_spans_point_into_the_view() -> None:
    matcher = Matcher([kw("end my life")])
    norm = matcher.normalise("I want to END my life")
    hit = matcher.scan(norm)[0]
    assert norm.view(hit.view)[hit.start:hit.end] == "end my life"
    assert norm.original_span(hit.view, hit.start, hit.end) == "END my life"


def test_regexes_run_through_a_set_and_are_located_lazily() -> None:
    matcher = Matcher([Atom("regex", normalise_regex(r"\bsu[i1]c[i1]d(?:e|al)\b")), kw("hello")])
    norm = matcher.normalise("feeling $u1c1dal")
    hits = matcher.scan(norm)
    assert set(hits) == {0}
    assert hits[0].start == -1  # not searched again yet
    located = matcher.locate(0, hits[0], norm)
    assert norm.view(located.view)[located.start:located.end] == "suicidal"
    assert matcher.locate(0, located, norm) == located


def test_raw_view_regexes_see_digits_and_case() -> None:
    matcher = Matcher([
        Atom("regex", r"\b07\d{3} ?\d{6}\b", RAW_VIEW),
        Atom("regex", r"\bDr\.? [A-Z][a-z]+", RAW_VIEW),
    ])
    norm = matcher.normalise("call 07700 900123 or ask Dr Smith")
    hits = matcher.scan(norm)
    assert set(hits) == {0, 1}
    assert all(h.view == RAW for h in hits.values())
    assert found(matcher, "ask dr smith") == set()  # case matters on the raw view


def test_variants_are_scanned() -> None:
    matcher = Matcher([kw("suicide"), kw("kill myself")])
    assert found(matcher, "s u i c i d e") == {0}
    assert found(matcher, "k*ll myself") == {1}  # mask resolved from the keyword vocabulary


def test_an_empty_matcher_finds_nothing() -> None:
    matcher = Matcher([])
    assert matcher.find("anything at all") == {}
    assert matcher.keyword_count == 0


def test_a_regex_re2_set_refuses_still_works() -> None:
    # RE2 sets reject patterns that compile alone in rare cases; such atoms are
    # searched one by one. Simulate it by forcing the fallback list.
    matcher = Matcher([Atom("regex", normalise_regex(r"\bfoo\b"))])
    matcher._sets.clear()
    matcher._loose["text"] = [0]
    hits = matcher.find("a foo here")
    assert hits[0] == Hit(0, 3, 5)  # the view has "fo": repeated letters collapse


def test_unknown_atoms_are_rejected() -> None:
    with pytest.raises(ValueError):
        Matcher([Atom("glob", "x")])
    with pytest.raises(ValueError):
        Matcher([Atom("regex", "x", "html")])


def test_cost_does_not_depend_on_keyword_count() -> None:
    """Ten thousand keywords: still one automaton pass, and exact results."""
    letters = "bcdfghjkmnpqrstvwxyz"
    words = [f"{letters[i // 400]}a{letters[i // 20 % 20]}e{letters[i % 20]}o" for i in range(8_000)]
    words += [f"{w} {w}" for w in words[:2_000]]
    matcher = Matcher([kw(w) for w in words])
    assert matcher.keyword_count == 10_000
    assert found(matcher, f"nothing to see {words[42]} here {words[7999]}") == {42, 7999}
    assert found(matcher, f"{words[42]} {words[42]}") == {42, 8042}
    assert found(matcher, f"{words[42]}x x{words[42]}") == set()


def test_lone_surrogates_do_not_break_matching() -> None:
    # found by the fuzzer: "\ud800" (what a JSON escape in a Matrix event decodes to)
    # raised UnicodeEncodeError in the regex engine, so the message was never checked
    matcher = Matcher([Atom("regex", r"\bDr\.? [A-Z][a-z]+", RAW_VIEW), kw("kill myself")])
    assert found(matcher, "see Dr Smith \ud800 then kill myself \udfff") == {0, 1}


def test_keywords_and_regexes_match_with_and_without_accents() -> None:
    from bot.rules.engine import Rulebook

    book = Rulebook.loads(
        "- id: t\n  category: concern\n  severity: low\n  description: accents\n"
        "  match:\n    any:\n      - keywords: [\"bin so müde\", \"quiero morirme ya\"]\n"
        "      - regex: '\\bsuicídio\\b|\\bsélf\\b'\n"
        "  actions: [log]\n")
    for text in ("Ich bin so müde", "ich bin so muede", "ich bin so mude", "ICH BIN SO MÜDE",
                 "pensando em suicídio", "pensando em suicidio", "quiéro morírme ya"):
        assert [m.rule.id for m in book.evaluate(text)] == ["t"], text
    assert book.evaluate("ich bin so mu") == []


def test_rules_in_other_scripts_match_native_words() -> None:
    from bot.rules.engine import Rulebook

    book = Rulebook.loads(
        "- id: ru\n  category: concern\n  severity: low\n  description: Russian\n"
        "  match:\n    any:\n      - keywords: [\"хочу умереть\"]\n"
        "  actions: [log]\n")
    assert [m.rule.id for m in book.evaluate("Я хочу умереть")] == ["ru"]
    assert book.evaluate("xoчy ymepetb") == []  # Latin look-alikes are not Russian
