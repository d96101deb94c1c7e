"""The matcher: one automaton for every keyword, RE2 prefilter and sets for regexes, whole
words only."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
import re2

from bot.detection.corpus import load_corpus
from bot.rules.engine import Rulebook
from bot.rules.matcher import RAW_VIEW, Atom, Hit, Matcher
from bot.rules.normalise import RAW, normalise, normalise_regex, normalise_text
from bot.rules.tools import default_rules_dir

ROOT = Path(__file__).resolve().parents[1]


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


@pytest.fixture(scope="module")
def shipped() -> Rulebook:
    return Rulebook.load(default_rules_dir())


def _mutated(texts: list[str], n: int, seed: int = 3) -> list[str]:
    """``n`` evasive variants of ``texts``: look-alikes, capitals, spaces, stars, repeats."""
    rng = random.Random(seed)
    swaps = {"a": "@а4", "e": "3е", "i": "1і!", "o": "0о", "s": "$5ѕ"}
    out = []
    for _ in range(n):
        chars = list(rng.choice(texts))
        for _ in range(rng.randint(1, 4)):
            if not chars:
                break
            k = rng.randrange(len(chars))
            op = rng.random()
            if op < 0.3 and chars[k].lower() in swaps:
                chars[k] = rng.choice(swaps[chars[k].lower()])
            elif op < 0.5:
                chars[k] = chars[k].upper()
            elif op < 0.7:
                chars.insert(k, rng.choice([" ", "\u200b", chars[k], "*", "."]))
            else:
                chars.insert(k, rng.choice("!?-_ éüßÀ🙂💀"))
        out.append("".join(chars))
    return out


def _texts(book: Rulebook) -> list[str]:
    texts = random.Random(5).sample([e.text for e in load_corpus(ROOT / "corpus")], 2000)
    for rule in book.rules:
        texts += [*rule.examples_match, *rule.examples_no_match]
    return texts + _mutated(texts, 800)


def test_the_prefilter_finds_exactly_what_one_re2_set_finds(shipped: Rulebook) -> None:
    """Every shipped regex behind RE2's literal prefilter: the same hits as one RE2 set over
    all of them, on the corpus, the rules' examples and evasive variants of both."""
    plain = Matcher(shipped.matcher.atoms, prefilter=False)
    assert shipped.matcher.prefilter
    assert any(isinstance(g, re2.Filter) for g, _ in shipped.matcher._sets["text"])
    assert not any(isinstance(g, re2.Filter) for g, _ in plain._sets["text"])
    texts = _texts(shipped)
    assert len(texts) > 3500
    differ = [t for t in texts
              if shipped.matcher.scan(shipped.normalise(t)) != plain.scan(plain.normalise(t))]
    assert differ == []


def test_regexes_without_literals_still_match() -> None:
    # RE2 finds no literal a message must contain for these (anchors, short alternatives):
    # they run in a small set of their own, on every message
    matcher = Matcher([Atom("regex", r"^\d+$", RAW_VIEW),
                       Atom("regex", normalise_regex(r"\b(?:rn|atm) (?:i|we)\b")),
                       Atom("regex", normalise_regex(r"\bkill(?:ing)? myself\b"))])
    assert set(matcher.find("12345")) == {0}
    assert set(matcher.find("rn i cant")) == {1}
    assert set(matcher.find("killing myself")) == {2}
    assert matcher.find("nothing here") == {}


def test_new_text_is_cheap_with_the_prefilter(shipped: Rulebook) -> None:
    """Messages never seen before: the prefilter is several times faster than one RE2 set
    over every regex (which builds its lazy DFA afresh for new text). Both are timed in
    CPU seconds on fresh messages of the same mix, in the same run."""
    plain = Matcher(shipped.matcher.atoms, prefilter=False)
    words = ["i", "you", "feel", "today", "tonight", "work", "school", "friend", "sleep", "tired", "help", "better", "worse", "coffee", "music", "talk", "think", "know", "want", "need", "going", "hope", "sorry", "okay", "good", "hard", "day", "little", "bit", "more", "still", "maybe", "new", "first", "last", "kind", "quiet", "anxious", "calm"]
    rng = random.Random(11)

    def fresh(n: int) -> list[str]:
        return [normalise(" ".join(rng.choice(words) for _ in range(rng.randint(4, 24)))).text
                for _ in range(n)]

    def cpu(matcher: Matcher, views: list[str]) -> float:
        groups = matcher._sets["text"]
        started = time.process_time()
        for view in views:
            for group, _ in groups:
                group.Match(view)
        return time.process_time() - started

    cpu(plain, fresh(50)), cpu(shipped.matcher, fresh(50))  # both built and touched once
    set_seconds = cpu(plain, fresh(1500))
    prefilter_seconds = cpu(shipped.matcher, fresh(1500))
    assert prefilter_seconds * 3 < set_seconds, (prefilter_seconds, set_seconds)


def test_a_pack_too_large_for_one_prefilter_is_split(monkeypatch) -> None:
    """RE2 builds a prefilter's literal matcher with its default memory budget, so a large
    pack fails to compile as one; it is split in parts that do, with the same answers."""
    real = Matcher._filter_of

    def at_most_three(self, ids):  # type: ignore[no-untyped-def]
        return real(self, ids) if len(ids) <= 3 else None

    monkeypatch.setattr(Matcher, "_filter_of", at_most_three)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"]
    atoms = [Atom("regex", normalise_regex(rf"\b{w} (?:one|two)\b")) for w in words]
    split = Matcher(atoms)
    filters = [g for g, _ in split._sets["text"] if isinstance(g, re2.Filter)]
    assert len(filters) >= 3
    assert sorted(i for _, ids in split._sets["text"] for i in ids) == list(range(len(words)))
    for n, w in enumerate(words):
        assert set(split.find(f"{w} two")) == {n}
    assert split.find("alpha three") == {}
