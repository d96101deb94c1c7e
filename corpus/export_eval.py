#!/usr/bin/env python3
"""Write a split of the corpus in the evaluation scorer's format, so that the corpus
figures come from ``haven scan`` exactly as the shared evaluation set's do.

The scorer (``../shared/eval/score.py``) reads ``messages: [{text, label, lang}]`` with the
labels crisis, method, hostility, pii, distress, recovery and none. Our two risk levels,
``crisis`` (urgent) and ``concern`` (the quiet level), are both its ``crisis``: a post at
either level is caught when Haven reports ``crisis`` or ``concern``. With ``--keep-concern``
concern posts keep their own label (the scorer then reports them on a line of their own
and leaves them out of the crisis recall). Each message also carries its corpus ``class``
(the scorer ignores it; useful to read misses per class).

The dev split is derived, never written: a text is in dev when
``int(sha1(text.encode()).hexdigest(), 16) % 5 == 0``.

Usage::

    python3 corpus/export_eval.py [--split dev|train|all] [--lang en,nl] [--keep-concern] \
        [--shard K/N] [-o dev_split.yaml]
    python3 ../shared/eval/score.py dev_split.yaml --lang nl

The scorer gives ``haven scan`` two minutes; on a busy machine score one language at a
time (``--lang``), and split a large one with ``--shard 1/2`` and ``--shard 2/2`` (every
other message; add up the counts).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import yaml

LABELS = ("crisis", "concern", "method", "hostility", "pii", "distress", "recovery", "none")
SCORER_LABEL = {"concern": "crisis"}
"""Corpus labels the scorer knows under another name (everything else keeps its own)."""


def in_dev(text: str) -> bool:
    """The derived split: dev when sha1(text) % 5 == 0."""
    return int(hashlib.sha1(text.encode()).hexdigest(), 16) % 5 == 0


def export(root: Path, split: str = "dev", langs: set[str] | None = None,
           keep_concern: bool = False, shard: tuple[int, int] = (1, 1)) -> list[dict[str, str]]:
    """The messages of ``root/<lang>/<label>.yaml`` in ``split``, in the scorer's shape,
    ordered by language, then label, then the files' own order; of those, with
    ``shard=(k, n)``, every n-th from the k-th (1-based)."""
    out: list[dict[str, str]] = []
    for path in sorted(root.glob("*/*.yaml")):
        lang, label = path.parent.name, path.stem
        if label not in LABELS or (langs and lang not in langs):
            continue
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for msg in doc.get("messages") or []:
            text = msg["text"]
            if split != "all" and in_dev(text) != (split == "dev"):
                continue
            scored = label if keep_concern else SCORER_LABEL.get(label, label)
            out.append({"label": scored, "lang": lang, "class": str(msg.get("class", "")),
                        "text": text})
    k, n = shard
    return out[k - 1::n]


def main(argv: list[str] | None = None) -> int:
    """Command line: write the YAML file (or stdout) and a count per language on stderr."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=str(Path(__file__).resolve().parent),
                    help="the corpus folder (default: the one beside this script)")
    ap.add_argument("--split", choices=("dev", "train", "all"), default="dev")
    ap.add_argument("--lang", default="", help="comma-separated languages (default: all)")
    ap.add_argument("--keep-concern", action="store_true",
                    help="keep label concern instead of the scorer's crisis")
    ap.add_argument("--shard", default="1/1", help="K/N: every N-th message from the K-th")
    ap.add_argument("-o", "--out", default="-", help="output file (default: stdout)")
    args = ap.parse_args(argv)
    langs = {x.strip() for x in args.lang.split(",") if x.strip()} or None
    try:
        k, n = (int(x) for x in args.shard.split("/"))
        if not 1 <= k <= n:
            raise ValueError
    except ValueError:
        ap.error(f"--shard must be K/N with 1 <= K <= N, got {args.shard!r}")
    messages = export(Path(args.corpus), args.split, langs, args.keep_concern, (k, n))
    text = ("# Haven corpus, " + args.split + " split, written by corpus/export_eval.py; score "
            "with ../shared/eval/score.py\n"
            + yaml.safe_dump({"messages": messages}, allow_unicode=True, sort_keys=False, width=1000))
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
    counts: dict[str, int] = {}
    for m in messages:
        counts[m["lang"]] = counts.get(m["lang"], 0) + 1
    print(", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no messages", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
