"""WordPiece vocabularies: trained from a corpus with keras-nlp, saved as plain text assets."""

import collections
import os
import re

import tensorflow as tf

from mmlm import atomic_files
from mmlm.backend import keras_nlp

PAD = "[PAD]"
UNK = "[UNK]"
START = "[START]"
END = "[END]"
MASK = "[MASK]"
# Order fixes the ids: [PAD] is 0 so zero-padding is padding.
RESERVED_TOKENS = (PAD, UNK, START, END, MASK)


def train_vocabulary(texts, vocabulary_size, lowercase=True):
    """Trains a WordPiece vocabulary.

    Args:
        texts: an iterable of strings or a `tf.data.Dataset` of scalar strings. Pass every
            language the model should read (e.g. English and Spanish captions).
        vocabulary_size: the maximum vocabulary size, reserved tokens included.
        lowercase: lowercase before counting (must match the tokenizer's setting).
    Returns:
        The vocabulary as a list of tokens; `RESERVED_TOKENS` come first.
    """
    if not isinstance(texts, tf.data.Dataset):
        texts = tf.data.Dataset.from_tensor_slices(tf.constant(list(texts), tf.string))
    vocabulary = keras_nlp.tokenizers.compute_word_piece_vocabulary(
        texts.batch(1024),
        vocabulary_size=vocabulary_size,
        lowercase=lowercase,
        strip_accents=False,  # keep "círculo" distinct from "circulo"
        reserved_tokens=list(RESERVED_TOKENS),
    )
    return list(vocabulary)


# Bounds of `auto_vocabulary_size` and the tokens it adds for word pieces and characters.
AUTO_VOCABULARY_BOUNDS = (500, 16000)
AUTO_VOCABULARY_PIECES = 300


def auto_vocabulary_size(texts, lowercase=True):
    """A vocabulary size that fits a corpus: a token for every word seen at least twice, plus
    room for pieces and characters, rounded up to 100, within `AUTO_VOCABULARY_BOUNDS`.

    Args:
        texts: an iterable of strings or a `tf.data.Dataset` of scalar strings.
        lowercase: count words lowercased (as the tokenizer will see them).

    Returns:
        (vocabulary size, number of words seen at least twice).
    """
    counts = collections.Counter()
    for text in texts.as_numpy_iterator() if isinstance(texts, tf.data.Dataset) else texts:
        text = text.decode("utf-8") if isinstance(text, bytes) else text
        counts.update(re.findall(r"\w+", text.lower() if lowercase else text))
    frequent = sum(1 for count in counts.values() if count >= 2)
    low, high = AUTO_VOCABULARY_BOUNDS
    size = -(-(frequent + AUTO_VOCABULARY_PIECES) // 100) * 100
    return min(high, max(low, size)), frequent


def save_vocabulary(vocabulary, path):
    """Writes one token per line to `path` atomically (a crash never leaves half a file)."""
    return atomic_files.write_text(path, "\n".join(vocabulary) + "\n")


def load_vocabulary(path):
    """Reads a vocabulary written by `save_vocabulary` (one token per line)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"vocabulary file {path} not found; run `mmlm data generate` for this config first"
        )
    with open(path, encoding="utf-8") as f:
        vocabulary = [line.rstrip("\n") for line in f if line.rstrip("\n")]
    missing = [t for t in RESERVED_TOKENS if t not in vocabulary]
    if missing:
        raise ValueError(f"vocabulary file {path} lacks the reserved tokens {missing}")
    return vocabulary
