"""Shared helpers for the detection tests: a tiny labelled corpus and a fake embedder."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

TINY: dict[str, list[str]] = {
    "crisis": [
        "tonight is the night, i have the pills ready and the letters written",
        "i am going to end it tonight, goodbye everyone",
        "this is my last post, i have given my cat to my sister",
        "i will kill myself on friday after the exam",
        "my friend just texted that she is going to jump off the bridge now",
        "goodbye all, i won't be around after tonight",
        "i wrote the note and i'm doing it tonight",
        "i have the rope ready, tonight i end my life",
    ],
    "concern": [
        "i wish i could just not wake up tomorrow",
        "sometimes i wish i didn't exist at all",
        "everyone would be better off without me, i'm such a burden",
        "i just want to disappear and stop being a burden",
        "there is no point in anything anymore, i wish i was gone",
        "i wish i could fall asleep and never wake up",
    ],
    "method": [
        "how many pills of paracetamol would it take to die",
        "what is the lethal dose of sertraline",
        "which bridge is high enough that you would not survive",
        "how much insulin would stop your heart",
        "what height do you need for the fall to be fatal",
        "how many tablets is a fatal overdose",
    ],
    "hostility": [
        "nobody would miss you if you were gone, do it properly",
        "you are a pathetic worthless idiot",
        "just do it already, nobody cares about you",
        "everyone here hates you, leave the server",
        "you are disgusting and stupid, go away",
        "do us all a favour and disappear loser",
    ],
    "pii": [
        "add me on insta @coolgirl_1999 to chat",
        "text me on 07700 900123 anytime",
        "my name is jane doe and i go to riverside high school",
        "email me at sam.example@mail.test",
        "find me on snap, my handle is @darkmoon_77",
        "i'm tom baker from st mary's clinic on oak road",
    ],
    "distress": [
        "today was awful and i feel so low and tired",
        "i'm anxious about my exam and cannot sleep",
        "i miss my grandma so much since she died",
        "work is exhausting and i cry every evening",
        "i feel empty and sad most days lately",
        "sometimes i wish i could disappear but i would never do anything",
    ],
    "recovery": [
        "two years ago i tried to end my life, now i'm safe and doing better",
        "i used to self harm but i'm six months clean",
        "i survived an attempt last year and therapy helped me",
        "looking back at my overdose in 2019, i'm glad i'm still here",
    ],
    "none": [
        "this homework is killing me lol",
        "the character kills himself in season two, what a show",
        "anyone watching the football tonight",
        "i'm dead, that meme is hilarious",
        "thanks everyone for the support, the helpline number is in the pinned post",
        "kill the lights when you leave please",
        "what are you all having for dinner",
        "the bridge near my house is closed for repairs",
    ],
}


def write_corpus(root: Path, data: dict[str, list[str]] | None = None, lang: str = "en") -> Path:
    """Write ``data`` as ``root/<lang>/<label>.yaml`` (corpus format) and return ``root``."""
    for label, texts in (data or TINY).items():
        folder = root / lang
        folder.mkdir(parents=True, exist_ok=True)
        doc = {"language": lang, "label": label,
               "messages": [{"text": t, "class": "x"} for t in texts]}
        (folder / f"{label}.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True),
                                              encoding="utf-8")
    return root


class FakeBackend:
    """A deterministic stand-in for the embedding model: hashed bag of words, unit length."""

    name = "fake"
    model_id = "fake:bow-64"
    dimension = 64

    def __init__(self) -> None:
        self.calls: list[int] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dimension), np.float32)
        for r, text in enumerate(texts):
            for word in text.lower().split():
                out[r, zlib.crc32(word.encode()) % self.dimension] += 1.0
            norm = np.linalg.norm(out[r])
            if norm:
                out[r] /= norm
        return out
