"""Reading text: words, the hedge lexicon, and hashed n-gram features.

Everything here is a pure function of its input. Hashing uses BLAKE2b, never ``hash()``
(which is salted per process): a bucket is the same in every process and on every replay.
The caches only remember results; they never change one.

A text's vector is *binary*: the set of buckets of the n-grams it contains — each word
(a word unigram) and the leading character 4-gram of each longer word (a cheap stem, so
"parse", "parser" and "parsing" overlap). The window of recent actions sums the binary
vectors of its actions (see ``signals``).

Bounds, so one huge model output cannot stall the monitor: only the first
``MAX_TEXT_CHARS`` characters of a text are read, and an action's vector is built from its
first ``VECTOR_WORDS`` words (an intent's from its first ``INTENT_WORDS``).
"""

from __future__ import annotations

import string
from hashlib import blake2b
from typing import Final

MAX_TEXT_CHARS: Final = 4000
VECTOR_WORDS: Final = 32
"""Words of an action's text that make its vector (its opening says what it is about)."""
INTENT_WORDS: Final = 256
"""Words of an intent that make its vector."""
DIMENSIONS: Final = 1 << 20
"""Buckets of the hashed features: 2^20 keeps collisions between the few hundred features of an
intent and a window negligible."""

# Words are what is left between separators after lower-casing: ASCII punctuation, white
# space and common typographic marks separate words; apostrophes vanish ("doesn't" is one
# word, "doesnt"); letters of any script stay. str.translate + split runs in C.
_SEPARATORS: Final = string.punctuation.replace("'", "") + "\u201c\u201d\u2014\u2013\u2026\u00ab\u00bb"
_SPLIT: Final = str.maketrans(dict.fromkeys(_SEPARATORS, " ") | dict.fromkeys("'\u2019\u2018", None))


def normalize(text: str) -> str:
    """The first ``MAX_TEXT_CHARS`` characters, lower-cased."""
    return text[:MAX_TEXT_CHARS].lower()


def words(normalized: str) -> list[str]:
    """The words of normalized text."""
    return normalized.translate(_SPLIT).split()


# The hedge lexicon: words and phrases with which a model signals it is unsure, guessing or
# flailing. Chosen to be rare in confident technical prose: "may" and "could" alone are too
# common in ordinary instructions to count; "could be" and "may be" are hedges.
HEDGE_WORDS: Final = frozenset(
    {
        "maybe", "perhaps", "possibly", "probably", "presumably", "apparently", "seemingly",
        "might", "unsure", "uncertain", "unclear", "guess", "guessing", "suppose",
        "hopefully", "somehow", "hmm", "sorry", "apologies", "apologize", "confused",
        "confusing", "seems", "seem", "likely", "unlikely", "wonder", "assume", "assuming",
    }
)  # fmt: skip
HEDGE_PHRASES: Final = (
    "not sure", "i think", "i believe", "not certain", "could be", "may be", "no idea",
    "try again", "trying again", "another approach", "not clear", "doesn't work", "still failing",
)  # fmt: skip
# Phrases are searched in the words joined by *two* spaces, each phrase padded by one space
# on either side (" doesnt  work "): whole words only, and two adjacent occurrences each keep
# a space of their own. A text lacking the phrases' first or last words (most texts) skips
# the search, and one without any hedge word skips the count: set checks run in C.
_PHRASES: Final = tuple(" " + "  ".join(words(phrase)) + " " for phrase in HEDGE_PHRASES)
_PHRASE_FIRST: Final = frozenset(words(phrase)[0] for phrase in HEDGE_PHRASES)
_PHRASE_LAST: Final = frozenset(words(phrase)[-1] for phrase in HEDGE_PHRASES)


def hedge_count(text_words: list[str]) -> int:
    """Occurrences of lexicon words and phrases among ``text_words``."""
    count = 0 if HEDGE_WORDS.isdisjoint(text_words) else sum(map(HEDGE_WORDS.__contains__, text_words))
    if not _PHRASE_FIRST.isdisjoint(text_words) and not _PHRASE_LAST.isdisjoint(text_words):
        joined = "  " + "  ".join(text_words) + "  "
        count += sum(map(joined.count, _PHRASES))
    return count


# Function words say nothing about what a text is about, and every text has them: counted, they
# make any two texts look alike (an agent's off-task work still shares "the" and "and" with its
# intent). They map to a bucket that ``features`` drops.
STOP_WORDS: Final = frozenset(
    {
        "a", "an", "the", "and", "or", "but", "if", "so", "as", "of", "to", "in", "on", "at", "by",
        "for", "with", "from", "into", "than", "then", "that", "this", "these", "those", "it",
        "its", "is", "are", "was", "were", "be", "been", "being", "do", "does", "did", "has",
        "have", "had", "will", "would", "can", "could", "should", "shall", "may", "must", "not",
        "no", "i", "im", "we", "you", "he", "she", "they", "me", "us", "my", "our", "your",
        "their", "what", "which", "who", "whose", "when", "where", "how", "why", "all", "any",
        "each", "some", "there", "here", "also", "just", "let", "lets", "now", "up", "out",
    }
)  # fmt: skip
_STOP: Final = -1


def _bucket(feature: str) -> int:
    return int.from_bytes(blake2b(feature.encode(), digest_size=4).digest(), "little") & _MASK


_MASK: Final = DIMENSIONS - 1
_CACHE_LIMIT: Final = 1 << 17
# word -> its unigram bucket / its stem bucket. Two flat dicts rather than one of tuples, so
# that a whole text is looked up by C-level ``map(dict.__getitem__, words)``.
_unigram: dict[str, int] = {}
_stem: dict[str, int] = {}


def _learn(word: str) -> None:
    if len(_unigram) >= _CACHE_LIMIT:
        _unigram.clear()
        _stem.clear()
    if word in STOP_WORDS:
        _unigram[word] = _stem[word] = _STOP
        return
    unigram = _bucket("w:" + word)
    _unigram[word] = unigram
    _stem[word] = _bucket("c:" + word[:4]) if len(word) > 4 else unigram  # a short word is its own stem


def features(text_words: list[str], limit: int = VECTOR_WORDS) -> set[int]:
    """The feature buckets (word unigrams and leading character 4-grams) of the first
    ``limit`` words, function words left out."""
    head = text_words[:limit]
    try:
        found = {*map(_unigram.__getitem__, head), *map(_stem.__getitem__, head)}
    except KeyError:  # a word not seen yet (or the caches were just emptied)
        found = set()
        for word in head:
            if word not in _unigram:
                _learn(word)  # may empty the caches, but always leaves this word in them
            found.add(_unigram[word])
            found.add(_stem[word])
    found.discard(_STOP)
    return found
