"""Reading the labelled corpus (``corpus/<lang>/<label>.yaml``) and a community's examples.

A corpus file names its language and label and lists messages with a text and a
sub-class (see ``corpus/README.md``). A community's own examples file is either
the same shape, or a plain list of ``{text, label}`` mappings (``lang`` and
``class`` optional), which is what ``feedback`` appends to.

The dev split is derived, never written: a text is in dev when
``int(sha1(text), 16) % 5 == 0``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.core.errors import ConfigError, Problem

LABELS = ("crisis", "concern", "method", "hostility", "pii", "distress", "recovery", "none")
POSITIVE_LABELS = ("crisis", "concern", "method", "hostility", "pii")


@dataclass(frozen=True)
class Example:
    """One labelled message."""

    text: str
    label: str
    lang: str = "en"
    cls: str = ""
    source: str = "corpus"

    @property
    def dev(self) -> bool:
        """Whether the example is in the dev split."""
        return is_dev(self.text)


def is_dev(text: str) -> bool:
    """The derived split: dev when sha1(text) % 5 == 0."""
    return int(hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest(), 16) % 5 == 0


def load_corpus(root: str | Path) -> list[Example]:
    """Every message of ``root/<lang>/<label>.yaml``; raises ConfigError on a bad file."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError([Problem(str(root), 0, "corpus", "corpus directory not found")])
    out: list[Example] = []
    problems: list[Problem] = []
    for path in sorted(root.glob("*/*.yaml")):
        lang, label = path.parent.name, path.stem
        if label not in LABELS:
            continue
        out.extend(_load_file(path, problems, default_lang=lang, default_label=label,
                              source="corpus"))
    if problems:
        raise ConfigError(problems)
    return out


def load_examples(path: str | Path) -> list[Example]:
    """A community's examples file: corpus shape or a list of ``{text, label}``."""
    problems: list[Problem] = []
    out = _load_file(Path(path), problems, default_lang="", default_label="", source="examples")
    if problems:
        raise ConfigError(problems)
    return out


def _load_file(path: Path, problems: list[Problem], *, default_lang: str, default_label: str,
               source: str) -> list[Example]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        problems.append(Problem(str(path), 0, "examples", f"cannot read: {exc}"))
        return []
    if doc is None:
        return []
    if isinstance(doc, dict):
        lang = str(doc.get("language") or default_lang or "en")
        label = str(doc.get("label") or default_label)
        items: Any = doc.get("messages") or []
    else:
        lang, label, items = default_lang or "en", default_label, doc
    if not isinstance(items, list):
        problems.append(Problem(str(path), 0, "examples", "expected a list of messages"))
        return []
    out: list[Example] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or not item["text"].strip():
            problems.append(Problem(str(path), 0, f"message {i + 1}", "needs a non-empty text"))
            continue
        item_label = str(item.get("label") or label)
        if item_label not in LABELS:
            problems.append(Problem(str(path), 0, f"message {i + 1}",
                                    f"label must be one of {', '.join(LABELS)}, got {item_label!r}"))
            continue
        out.append(Example(item["text"].strip(), item_label, str(item.get("lang") or lang),
                           str(item.get("class") or ""), source))
    return out


def dedupe(examples: Iterable[Example]) -> list[Example]:
    """Drop repeated texts (the later one wins: a community's label overrides the corpus)."""
    by_text: dict[str, Example] = {}
    for ex in examples:
        by_text.pop(ex.text, None)
        by_text[ex.text] = ex
    return list(by_text.values())


def corpus_hash(examples: Sequence[Example]) -> str:
    """A short fingerprint of a training set (order-independent)."""
    h = hashlib.sha1()
    for line in sorted(f"{e.lang}\t{e.label}\t{e.text}" for e in examples):
        h.update(line.encode("utf-8", "surrogatepass"))
        h.update(b"\n")
    return h.hexdigest()[:16]
