"""The one spaCy pipeline: blank Danish with the lookup lemmatizer (no trained Danish pipeline
can be had offline). Built once per process; the entity rules and the vocabulary signal share it."""

from __future__ import annotations

from functools import lru_cache

import spacy
from spacy.language import Language


@lru_cache(maxsize=1)
def danish_nlp() -> Language:
    nlp = spacy.blank("da")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    return nlp


def lemma_table() -> dict[str, str]:
    """Inflected form -> lemma, from the lemmatizer's lookup table (lower case)."""
    table = danish_nlp().get_pipe("lemmatizer").lookups.get_table("lemma_lookup")
    return dict(table.items()) if hasattr(table, "items") else {}
