"""Small topic data and stand-in embeddings for fitting the classifiers in seconds: the lexical
features must carry the signal, the embeddings only give each text its own fixed vector."""

from __future__ import annotations

import hashlib

import numpy as np

from bot.topics import OUT_OF_SCOPE

TOPICS = {
    "affald_toemning": ["hvornår kommer skraldebilen til {p}", "skraldet er ikke hentet på {p}",
                        "min skraldespand på {p} blev ikke tømt"],
    "borger_pas": ["jeg skal have nyt pas og bor på {p}", "hvordan fornyer jeg mit pas, {p}",
                   "passet er udløbet, jeg bor {p}"],
    "bolig_stoette": ["kan jeg få boligstøtte til {p}", "tilskud til huslejen på {p}",
                      "boligstotte for lejligheden på {p}"],
    OUT_OF_SCOPE: ["hvem vinder fodboldkampen på {p}", "opskrift på æblekage fra {p}",
                   "asdf qwerty {p} zxcv"],
}
PLACES = ["Nørregade", "Vestergade", "Åboulevarden", "Søndergade", "Klostervej", "Parkvej"]


def fake_embeddings(texts: list[str], dim: int = 16) -> np.ndarray:
    """Deterministic, hash-derived unit vectors."""
    rows = []
    for t in texts:
        seed = int.from_bytes(hashlib.sha1(t.encode()).digest()[:4], "little")
        v = np.random.default_rng(seed).normal(size=dim)
        rows.append(v / np.linalg.norm(v))
    return np.array(rows, dtype=np.float32)


def topic_examples() -> tuple[list[str], list[str]]:
    """Every template of TOPICS at every place: texts and their topics."""
    texts, labels = [], []
    for topic, templates in TOPICS.items():
        for t in templates:
            for p in PLACES:
                texts.append(t.format(p=p))
                labels.append(topic)
    return texts, labels
