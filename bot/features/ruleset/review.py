"""The review file: examples moderators chose to teach the semantic stage.

``feedback falsealarm <label> <alert>`` and ``feedback missed <label> <text>``
append an item here; nothing else about a member ever is. An admin reviews the
file (fixing labels, deleting what should not be kept) and trains on it with
``haven train --examples FILE``. The file is a YAML list of mappings with
``text`` and ``label`` (the shape ``--examples`` reads) plus who added it and why.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

Label = Literal["crisis", "concern", "method", "hostility", "pii", "distress", "recovery", "none"]
"""What a post really is: the labels of the corpus ``haven train`` learns from."""
LABELS: tuple[str, ...] = get_args(Label)

_lock = threading.Lock()


def append_review(path: str | Path, text: str, label: str, kind: str, *, by: str, at: float,
                  alert: int | None = None, rule: str | None = None) -> int:
    """Append one example (stored first: the file is flushed before returning);
    returns how many items the file now holds."""
    if label not in LABELS:
        raise ValueError(f"label must be one of {', '.join(LABELS)}")
    item: dict[str, Any] = {"text": text.strip(), "label": label, "kind": kind, "by": by,
                            "at": round(at), "reviewed": False}
    if alert is not None:
        item["alert"] = alert
    if rule:
        item["rule"] = rule
    path = Path(path)
    with _lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(yaml.safe_dump([item], allow_unicode=True, sort_keys=False, width=1000))
            fh.flush()
        return count_review(path)


def count_review(path: str | Path) -> int:
    """Items in the review file (0 if it does not exist)."""
    path = Path(path)
    if not path.is_file():
        return 0
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return len(data) if isinstance(data, list) else 0
