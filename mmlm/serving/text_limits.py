"""The size limit of text inputs, checked in the graph before tokenizing.

The model reads only the first `sequence_length` tokens of a text, but the tokenizer would
first split all of it: a request of a few hundred megabytes of text ties a server up for
nothing. As manifest ingestion does (`data.text.max_bytes`, `text_too_long`), the text
signatures of an export refuse a row longer than the limit with an `InvalidArgumentError`, so
`mmlm serve` answers 400 / `INVALID_ARGUMENT` and TensorFlow Serving enforces the same limit.
Standard TensorFlow ops only.
"""

from mmlm.backend import tf

TEXT_TOO_LONG = "text_too_long"


def check_text_size(text, max_bytes):
    """An assert op failing with `InvalidArgumentError` when a row of `text` (B,) string holds
    more than `max_bytes` bytes; the message names the first such row and its size."""
    lengths = tf.strings.length(text)  # (B,) bytes
    over = tf.concat([tf.cast(lengths > max_bytes, tf.int32), [1]], axis=0)  # (B + 1,)
    row = tf.argmax(over, output_type=tf.int32)  # the first row over the limit (B if none)
    size = tf.concat([lengths, [0]], axis=0)[row]
    message = tf.strings.format(
        TEXT_TOO_LONG + ": row {} holds {} bytes, over the limit of {} bytes "
        "(data.text.max_bytes of the export)",
        (row, size, max_bytes),
    )
    return tf.debugging.Assert(row >= tf.size(lengths), [message])


def limit_text(text, max_bytes):
    """`text` (B,) string, once `check_text_size` has passed."""
    with tf.control_dependencies([check_text_size(text, max_bytes)]):
        return tf.identity(text)
