#!/usr/bin/env python3
"""Print message counts per language and label (and per class with --classes).

Also checks the corpus: every file parses, names its language and label, every
message has a text and a class from its label's vocabulary (see POLICY.md), and
no text appears twice within a language.
The dev split is derived, never written: a text is in dev when
``int(sha1(text.encode()).hexdigest(), 16) % 5 == 0``.

With --eval it also checks the corpus against the shared evaluation set
(``../shared/eval/dev_messages.yaml``, or the file given after --eval): no message may
share half its words (distinct lower-case word tokens) with one of the set's messages.
Messages written before this check that share half their words only through common
phrasing are listed, by the first 16 hex digits of the text's sha1, in
``eval_overlap_allowed.txt``; the list may shrink, never grow.

Usage: python3 corpus/count.py [--classes] [--split] [--eval [FILE]]
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import yaml

LABELS = ("crisis", "concern", "method", "hostility", "pii", "distress", "recovery", "none")

#: The fixed class vocabulary per label (corpus/POLICY.md).
CLASSES = {
    "crisis": {"direct", "indirect", "goodbye", "preparation", "deadline", "reunion",
               "act-under-way", "buried", "third-party", "slang", "obfuscated", "self-harm"},
    "concern": {"passive", "hopeless", "burden"},
    "method": {"quantity", "threshold", "height", "place", "tool", "timing", "feeling",
               "works-claim", "ed-threshold", "ed-tips"},
    "hostility": {"egging", "nobody-miss", "contempt", "exclusion", "slur", "obfuscated"},
    "pii": {"phone", "email", "address", "handle", "fullname-place", "clinician"},
    "distress": {"low-mood", "anxiety", "grief", "venting", "exhaustion", "passive-denied",
                 "urge-resisted"},
    "recovery": {"history", "safe-now"},
    "none": {"ordinary", "idiom", "joke", "media", "news", "supportive", "moderator",
             "helpline-quote"},
}


#: The shared evaluation set, relative to the corpus directory (outside the repository).
EVAL_SET = Path("..") / ".." / "shared" / "eval" / "dev_messages.yaml"
#: The messages written before the evaluation check that are allowed to overlap.
ALLOWED = "eval_overlap_allowed.txt"


def is_dev(text: str) -> bool:
    """Return True when a message belongs to the derived dev split."""
    return int(hashlib.sha1(text.encode()).hexdigest(), 16) % 5 == 0


def load(root: Path) -> tuple[dict, list[str]]:
    """Read every corpus file under root; return {(lang, label): messages} and problems."""
    data: dict = {}
    problems: list[str] = []
    for path in sorted(root.glob("*/*.yaml")):
        lang, label = path.parent.name, path.stem
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            problems.append(f"{path}: does not parse ({exc.__class__.__name__})")
            continue
        if doc.get("language") != lang or doc.get("label") != label:
            problems.append(f"{path}: language/label do not match the path")
        if label not in LABELS:
            problems.append(f"{path}: unknown label {label!r}")
        msgs = doc.get("messages") or []
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or not str(m.get("text", "")).strip() or not m.get("class"):
                problems.append(f"{path}: message {i} lacks text or class")
            elif label in CLASSES and m["class"] not in CLASSES[label]:
                problems.append(f"{path}: message {i} has unknown class {m['class']!r}")
        data[(lang, label)] = msgs
    seen: dict = defaultdict(dict)
    for (lang, label), msgs in data.items():
        for m in msgs:
            t = str(m.get("text", ""))
            if t in seen[lang]:
                problems.append(f"{lang}: duplicate text in {label} and {seen[lang][t]}: {t[:40]!r}")
            seen[lang][t] = label
    return data, problems


def words(text: str) -> frozenset[str]:
    """Return the distinct lower-case word tokens of a text."""
    return frozenset(re.findall(r"\w+", text.lower()))


def text_id(text: str) -> str:
    """Return the short id of a text used in the allowed-overlap list."""
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def eval_overlaps(data: dict, eval_texts: list[str]) -> list[tuple[str, str, str]]:
    """Return (lang, label, text) of every corpus message sharing half its words with an
    evaluation message (at least half of the message's own distinct words)."""
    ev = [w for w in map(words, eval_texts) if w]
    found = []
    for (lang, label), msgs in sorted(data.items()):
        for m in msgs:
            text = str(m.get("text", ""))
            w = words(text)
            if w and any(2 * len(w & e) >= len(w) for e in ev):
                found.append((lang, label, text))
    return found


def eval_problems(root: Path, data: dict, eval_path: Path) -> list[str]:
    """Check the corpus against an evaluation set: overlaps not on the allowed list, and
    allowed-list entries that no longer overlap (so the list only shrinks)."""
    if not eval_path.is_file():
        return [f"{eval_path}: evaluation set not found"]
    doc = yaml.safe_load(eval_path.read_text(encoding="utf-8")) or {}
    texts = [str(m.get("text", "")) for m in doc.get("messages") or [] if isinstance(m, dict)]
    allowed_path = root / ALLOWED
    allowed = set()
    if allowed_path.exists():
        for line in allowed_path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                allowed.add(line.split()[0])
    problems, seen = [], set()
    for lang, label, text in eval_overlaps(data, texts):
        seen.add(text_id(text))
        if text_id(text) not in allowed:
            problems.append(f"{lang}/{label}: shares half its words with {eval_path.name}: {text[:60]!r}")
    for stale in sorted(allowed - seen):
        problems.append(f"{ALLOWED}: {stale} no longer overlaps (or is gone): remove the line")
    return problems


def main(argv: list[str]) -> int:
    """Print the tables; exit 1 when the corpus has problems."""
    root = Path(__file__).resolve().parent
    data, problems = load(root)
    langs = sorted({lang for lang, _ in data})
    print("| label | " + " | ".join(langs) + " | total |")
    print("|---" * (len(langs) + 2) + "|")
    for label in LABELS:
        row = [len(data.get((lang, label), [])) for lang in langs]
        print(f"| {label} | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
    totals = [sum(len(data.get((lang, lb), [])) for lb in LABELS) for lang in langs]
    print("| **total** | " + " | ".join(map(str, totals)) + f" | {sum(totals)} |")
    if "--split" in argv:
        print()
        for lang in langs:
            msgs = [m for lb in LABELS for m in data.get((lang, lb), [])]
            dev = sum(is_dev(str(m["text"])) for m in msgs)
            print(f"{lang}: train {len(msgs) - dev}, dev {dev}")
    if "--classes" in argv:
        for lang in langs:
            for label in LABELS:
                msgs = data.get((lang, label))
                if msgs:
                    c = Counter(m.get("class") for m in msgs)
                    print(f"{lang}/{label}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
    if "--eval" in argv:
        i = argv.index("--eval")
        given = argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("--") else None
        eval_path = Path(given) if given else root / EVAL_SET
        problems += eval_problems(root, data, eval_path)
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
