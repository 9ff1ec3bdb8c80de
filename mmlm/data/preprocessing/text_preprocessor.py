"""Strings → packed WordPiece token ids with a padding mask."""

import tensorflow as tf

from mmlm.backend import keras, keras_nlp, register
from mmlm.data.preprocessing import vocabulary as vocab_lib
from mmlm.layers.config_fields import with_fields


@register
class TextPreprocessor(keras.layers.Layer):
    """Tokenizes text with WordPiece and packs it as `[START] tokens [END] [PAD]...`.

    Text longer than `sequence_length - 2` tokens is truncated before the end token is added;
    `mmlm data inspect` reports how many captions that affects.

    Args:
        vocabulary: list of tokens (or a path to a vocabulary file) containing
            `vocabulary.RESERVED_TOKENS`.
        sequence_length: packed length, start and end tokens included.
        lowercase: lowercase before tokenizing (must match how the vocabulary was trained).

    Call arguments:
        inputs: a scalar string or a batch of strings (B,).

    Returns:
        A dict with `token_ids` int32 (..., sequence_length) and `padding_mask` bool.

    Example:
    >>> pre = TextPreprocessor(vocabulary=vocab, sequence_length=16)
    >>> pre(["a red circle in the top left corner"])["token_ids"].shape
    TensorShape([1, 16])
    """

    def __init__(self, vocabulary, sequence_length=40, lowercase=True, **kwargs):
        super().__init__(**kwargs)
        if isinstance(vocabulary, str):
            vocabulary = vocab_lib.load_vocabulary(vocabulary)
        self.vocabulary = list(vocabulary)
        self.sequence_length = sequence_length
        self.lowercase = lowercase
        self.tokenizer = keras_nlp.tokenizers.WordPieceTokenizer(
            vocabulary=self.vocabulary,
            lowercase=lowercase,
            strip_accents=False,
            oov_token=vocab_lib.UNK,
            dtype="int32",
            name="tokenizer",
        )
        self.packer = keras_nlp.layers.StartEndPacker(
            sequence_length=sequence_length,
            start_value=self.token_id(vocab_lib.START),
            end_value=self.token_id(vocab_lib.END),
            pad_value=self.token_id(vocab_lib.PAD),
            return_padding_mask=True,
            name="packer",
        )

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def token_id(self, token):
        return self.vocabulary.index(token)

    def call(self, inputs):
        token_ids, padding_mask = self.packer(self.tokenizer(inputs))  # (..., L)
        return {"token_ids": tf.cast(token_ids, "int32"), "padding_mask": padding_mask}

    def detokenize(self, token_ids):
        """Token ids (..., L) → strings, without padding, start and end tokens."""
        special = [self.token_id(t) for t in (vocab_lib.PAD, vocab_lib.START, vocab_lib.END)]
        token_ids = tf.ragged.boolean_mask(
            token_ids, tf.reduce_all(token_ids[..., None] != special, axis=-1)
        )
        return self.tokenizer.detokenize(token_ids)

    def round_trip(self, texts):
        """Texts as the model can write them: tokenized (untruncated) and detokenized.

        Lowercased if the tokenizer lowercases, punctuation split off by spaces, out-of-
        vocabulary words as [UNK]. Generated texts are in this form, so references and
        baselines are compared in it too.
        """
        return self.tokenizer.detokenize(self.tokenizer(texts))

    def get_config(self):
        # Inline, so `from_config(get_config())` alone rebuilds the same tokenizer.
        return with_fields(
            super().get_config(), self, ("vocabulary", "sequence_length", "lowercase")
        )
