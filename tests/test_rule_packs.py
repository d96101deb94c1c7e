"""The shipped rule packs: they load, every embedded example passes, and they hold policy.

Besides the examples inside the packs, a table of further sentences checks that
the crisis patterns generalise (obfuscation, paraphrase) and stay quiet on
idioms, distress, recovery stories and supportive replies.
"""

from __future__ import annotations

import pytest

from bot.core.templates import DEFAULT_TEMPLATES
from bot.rules.engine import Rulebook
from bot.rules.helplines import TOPICS
from bot.rules.tools import default_rules_dir

PACKS = ("crisis", "method", "hostility", "pii", "sensitive", "signposting", "nl", "de", "es", "fr")
LANGUAGES = ("nl", "de", "es", "fr")


@pytest.fixture(scope="module")
def book() -> Rulebook:
    return Rulebook.load(default_rules_dir(), templates=set(DEFAULT_TEMPLATES))


def test_every_pack_exists_and_loads_alone() -> None:
    for pack in PACKS:
        assert (default_rules_dir() / f"{pack}.yaml").is_file()
        assert Rulebook.load(default_rules_dir(), packs=[pack]).rules, pack


def test_every_embedded_example_passes(book: Rulebook) -> None:
    failures = book.check_examples()
    assert failures == [], "\n".join(failures)


def test_every_rule_has_both_kinds_of_example(book: Rulebook) -> None:
    for rule in book.rules:
        assert rule.examples_match, rule.id
        assert rule.examples_no_match, rule.id


def test_categories_are_covered(book: Rulebook) -> None:
    found = {r.category for r in book.rules}
    assert {"crisis", "method", "hostility", "pii", "sensitive", "signpost"} <= found


def test_crisis_rules_alert_and_signpost_and_never_punish(book: Rulebook) -> None:
    for rule in book.rules:
        if rule.category != "crisis":
            continue
        names = {a.name for a in rule.actions}
        assert not names & {"hide", "warn", "timeout", "redirect_cw"}, rule.id
        alert = rule.action("alert_moderators")
        assert alert is not None and alert.params.get("urgency") == "now", rule.id
        assert rule.action("signpost") is not None, rule.id
        assert rule.severity in ("high", "critical"), rule.id


def test_concern_rules_are_quiet_and_never_punish(book: Rulebook) -> None:
    concern = [r for r in book.rules if r.category == "concern"]
    assert concern
    for rule in concern:
        names = {a.name for a in rule.actions}
        assert not names & {"hide", "warn", "timeout", "redirect_cw"}, rule.id
        alert = rule.action("alert_moderators")
        assert alert is not None and alert.params.get("urgency") == "quiet", rule.id
        assert rule.action("signpost") is not None, rule.id


def test_every_language_pack_covers_every_category() -> None:
    for lang in LANGUAGES:
        pack = Rulebook.load(default_rules_dir(), packs=[lang])
        found = {r.category for r in pack.rules}
        assert {"crisis", "concern", "method", "hostility", "pii"} <= found, lang
        assert all(r.id.startswith(f"{lang}-") for r in pack.rules), lang


def test_category_policies(book: Rulebook) -> None:
    for rule in book.rules:
        names = {a.name for a in rule.actions}
        if rule.category == "method":
            assert {"hide", "alert_moderators"} <= names, rule.id
        elif rule.category == "hostility":
            assert {"hide", "warn"} <= names, rule.id
        elif rule.category == "sensitive":
            assert names == {"redirect_cw"}, rule.id
        elif rule.category == "signpost":
            assert names == {"signpost"}, rule.id
        if "signpost" in names:
            assert rule.action("signpost").params["topic"] in TOPICS  # type: ignore[union-attr]
        if names & {"hide", "warn", "timeout", "redirect_cw"}:
            assert rule.explain, rule.id


CRISIS = [
    "im gonna k i l l myself tonight",
    "Thinking about ending my life, I can't take it",
    "ready to unalive myself fr",
    "i wnat to die",
    "I honestly see no way out but death",
    "I want to stop existing",
    "no reason for me to be alive anymore",
    "I wish I could fall asleep and never wake up",
    "everyone would be so much better off without me",
    "I've got the pills ready for tonight",
    "i just took 40 of my tablets",
    "my girlfriend texted me that she's going to overdose tonight",
    "my little brother is harming himself again",
    "urges to cut are really strong tonight",
    "I'll be dead by morning",
    "this is my goodbye",
    "feeling $uicidal again",
    "ѕuісіdаl tonight",
    "I keep looking up painless ways to die",
    "I don't think I'll survive the night",
    # indirect: affairs in order, deadlines, joining the dead, slang, emoji
    "I've left notes for my parents on my bed, I'm sorry",
    "my brother passed in march and I'm ready to join him",
    "you won't have to put up with me after friday",
    "planning to sewerslide this weekend",
    "gonna 🔪 myself",
    "kms 🪦",
    "Had a decent day at work, went to the gym. Might take all my pills tonight though. Anyway, weekend?",
    "my roommate locked herself in the bathroom and says she's cutting and won't stop",
    "my little sister texted me she took a whole bottle of pills",
    "you guys won't have to hear from me after this weekend",
    "the voices keep telling me to do it",
    "sitting in the garage with the engine running",
    "I want my family to know it's not their fault",
    "I already picked the day",
    "i can't promise i'll be here tomorrow",
]

NO_CRISIS = [
    # idioms and jokes
    "this spreadsheet is killing me",
    "I could murder a burger",
    "she absolutely killed it on stage",
    "I'd die for a slice of cheesecake",
    "dying to see that film",
    "I nearly died laughing",
    "I want to dye my hair pink",
    "I'd rather die than wear that jumper",
    "the final boss killed me ten times",
    # distress without stated risk to life
    "I feel so empty and alone lately",
    "I hate my life right now",
    "I feel like a burden to my friends",
    "I'm exhausted from pretending to be fine",
    "I just want to disappear for a while",
    # recovery told in the past
    "I used to think about ending my life every day, therapy helped",
    "When I was 17 I wanted to kill myself. I'm 25 now and glad I stayed.",
    "I was suicidal for years but it got better",
    "In 2018 I took an overdose. Today I ran my first 10k.",
    "there was a time I didn't want to live, but now I have reasons",
    # supportive replies and information
    "If you ever feel like ending your life, please call 988",
    "are you having thoughts of suicide right now? you can tell me",
    "If someone tells you they're suicidal, listen without judging",
    "we're running a suicide prevention walk on Sunday",
    "Romeo kills himself at the end of the play",
    # passive wishes the writer will not act on, urges resisted (caught quietly, as concern)
    "sometimes I wish I wasn't here but I'd never act on it",
    "I have urges to cut but I'm not going to, I'm holding ice instead",
    "I finally finished my essay, goodbye forever stress",
    "after my exams on friday I'm done with school forever!!",
    "my cat is getting rehomed because my landlord said no pets, I'm gutted",
    "you guys won't hear from me this weekend, I'm camping with no signal",
    "I bought rope for my climbing course",
    "I cut my finger and it won't stop bleeding, should I go to A&E?",
    "this will be my last message before bed, night",
    "we've picked the date for the wedding!",
    "my sister is standing on the bridge taking photos of the river",
    "my friend won't go to the doctor about her knee",
    "de doos paracetamol ligt naast me op het nachtkastje, voor mijn hoofdpijn",
    "j'ai la boîte de doliprane à côté de moi pour ma migraine",
    "ik heb alle messen verzameld voor de afwas",
]

CONCERN = [
    "sometimes I wish I wasn't here but I'd never act on it",
    "I have urges to cut but I'm not going to, I'm holding ice instead",
    "honestly what's the point of any of this",
    "I'm a burden on my family",
    "I just don't want to exist anymore, but I'm safe",
    "I've made my decision and I feel calm about it",
    "please look after my cat for me",
    "I think tonight is it for me",
]


@pytest.mark.parametrize("text", CONCERN)
def test_passive_wishes_are_caught_quietly(book: Rulebook, text: str) -> None:
    assert "concern" in {m.rule.category for m in book.evaluate(text)}


@pytest.mark.parametrize("text", CRISIS)
def test_crisis_generalises(book: Rulebook, text: str) -> None:
    assert "crisis" in {m.rule.category for m in book.evaluate(text)}


@pytest.mark.parametrize("text", NO_CRISIS)
def test_no_crisis_alarm(book: Rulebook, text: str) -> None:
    fired = [m.rule.id for m in book.evaluate(text) if m.rule.category == "crisis"]
    assert fired == []


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("take sixty of them with vodka and you won't wake up", "method"),
        ("hide your cuts with concealer so nobody sees", "method"),
        ("keep it under 500 calories a day", "method"),
        ("nobody here wants you, leave", "hostility"),
        ("you're a pathetic little loser", "hostility"),
        ("just go kys", "hostility"),
        ("text me 07700 900456", "pii"),
        ("my email is jay.k@outlook.com", "pii"),
        ("my psychiatrist Dr Mensah is useless", "pii"),
    ],
)
def test_other_categories_generalise(book: Rulebook, text: str, category: str) -> None:
    assert category in {m.rule.category for m in book.evaluate(text)}


@pytest.mark.parametrize(
    "text",
    [
        "Samaritans are on 116 123 any time",
        "does anyone have tips for sleeping better?",
        "you're not a failure, you're doing your best",
        "I'm such an idiot, I forgot my keys",
        "my therapist is great, she really gets me",
        "happy birthday!! hope it's a good one",
    ],
)
def test_ordinary_talk_fires_nothing(book: Rulebook, text: str) -> None:
    assert [m.rule.id for m in book.evaluate(text)] == []


# Held-out sentences from an independent generalisation pass: hard positives
# (slang, no explicit "suicide" word, doubled letters the normaliser collapses)
# and negatives that share their vocabulary. Not tuned examples: keep them
# passing by writing general patterns, never by matching these strings.
HELD_OUT_CRISIS = [
    "cant stop thinking about killing myself",
    "I'm planning to end my life on Friday",
    "thinking about slitting my wrists",
    "my flatmate is cutting herself and locked the door",
    "i genuinely cant see myself being alive next week",
    "tonight im taking every pill in the house",
    "so close to swallowing the whole pack",
    "Just took a load of my lithium. scared now",
    "everything is too much. im ending it",
    "part of me wants to stop breathing",
    "i hope i get hit by a bus tomorrow",
    "im at the station and want to jump in front of the next one",
    "scared of what i'll do to myself if i'm alone tonight",
    "suicidal af rn",
    "wishing i'd just die in my sleep",
]

HELD_OUT_QUIET = [
    "I'm going to take my life back this year!",
    "my laptop died mid-essay, i want to die lol",
    "I'm going to end it with my boyfriend tonight, he's been awful",
    "I remember wanting to jump off that bridge; now I walk over it to work",
    "a few years back I had the pills in my hand. glad I called someone",
    "i overdosed at uni and it took a long time to recover",
    "I'm taking every pill my psychiatrist prescribes now",
    "gonna cut so much content from this essay",
    "Pass me the knife and I'll cut the cake",
    "this is my last night in Sydney before I fly home",
    "I can't see myself living in London next year",
    "dont want to be here tonight, this party is boring",
    "my son is going to jump on the trampoline",
    "he's going to shoot the wedding photos",
    "the cuts are getting deeper in the budget",
]


@pytest.mark.parametrize("text", HELD_OUT_CRISIS)
def test_held_out_crisis_alerts(book: Rulebook, text: str) -> None:
    assert "crisis" in {m.rule.category for m in book.evaluate(text)}


@pytest.mark.parametrize("text", HELD_OUT_QUIET)
def test_held_out_no_crisis_alarm(book: Rulebook, text: str) -> None:
    fired = [m.rule.id for m in book.evaluate(text) if m.rule.category == "crisis"]
    assert fired == []


def test_helplines_cover_the_five_languages() -> None:
    from bot.rules.helplines import load_helplines

    helplines = load_helplines(default_rules_dir() / "helplines.yaml")
    assert helplines.warnings == ()
    phones = {code: " ".join(s.phone or "" for s in services)
              for code, (_, services) in helplines.countries.items()}
    expected = {"NL": "0800-0113", "BE": "1813", "DE": "0800 111 0 111", "AT": "142",
                "CH": "143", "ES": "024", "MX": "800 911 2000", "FR": "3114", "CA": "988"}
    for code, number in expected.items():
        assert number in phones[code], code
        assert helplines.services((code,), "crisis"), code
    assert "0800 32 123" in phones["BE"]
    assert "277-3553" in phones["CA"]  # Québec, 1 866 APPELLE


# Further sentences, beyond the packs' own examples, in the four other languages.
# Caught: crisis (urgent) or concern (quiet); quiet: no crisis alarm.
CAUGHT_ABROAD = [
    "ik trek het echt niet meer, ik wil gewoon dood",
    "Ik ga er dit weekend een eind aan maken, sorry",
    "mijn vriendin appte me dat ze zichzelf iets gaat aandoen",
    "ik heb weer zo'n drang om te krassen",
    "iedereen zou beter af zijn zonder mij",
    "Ich will echt nicht mehr leben",
    "heute nacht bringe ich mich um",
    "ich hab seit Wochen Schlaftabletten gesammelt",
    "mein Kumpel hat gesagt, dass er sich heute umbringen will",
    "ich wünschte, ich wäre einfach tot",
    "me quiero morir ya, no aguanto más",
    "esta noche voy a quitarme la vida",
    "mi hermana dice que se va a matar",
    "ojalá no despertar nunca más",
    "ya no puedo más con mi vida",
    "j'ai vraiment envie de mourir ce soir",
    "je vais en finir cette nuit",
    "mon pote a écrit qu'il va se foutre en l'air",
    "j'aimerais ne jamais me réveiller",
    "je suis épuisée de vivre",
]

QUIET_ABROAD = [
    "ik ga dood van de honger, wat eten we?",
    "vroeger wilde ik dood, nu gaat het gelukkig goed",
    "ich sterbe vor Lachen bei dem Video",
    "ich mache Schluss mit meinem Freund",
    "me muero de ganas de verte",
    "hace años quería morir, hoy estoy agradecida",
    "je suis morte de rire mdr",
    "si tu as des idées suicidaires, appelle le 3114",
    "dans ce film le héros veut mourir",
    "ik heb 6 uur geslapen en ga nu sporten",
    "sorry, ik moet gaan, doei",
    "perdón, me tengo que ir, adiós",
    "désolé, je dois y aller, au revoir",
    "Ich muss jetzt los, tschüss an alle",
    "sorry guys, gotta go, bye!",
    "he told me he's cutting his hair short",
]


@pytest.mark.parametrize("text", CAUGHT_ABROAD)
def test_language_packs_catch(book: Rulebook, text: str) -> None:
    assert {"crisis", "concern"} & {m.rule.category for m in book.evaluate(text)}


@pytest.mark.parametrize("text", QUIET_ABROAD)
def test_language_packs_stay_quiet(book: Rulebook, text: str) -> None:
    assert "crisis" not in {m.rule.category for m in book.evaluate(text)}
