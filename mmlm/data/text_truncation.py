"""Which texts of a prepared data set the model reads only in part.

`TextPreprocessor` keeps the first `sequence_length - 2` WordPiece tokens of a text (then the
end token closes it) and drops the rest. That is counted here, once the vocabulary exists, so
that the ingestion report can say how many captions lose their end and which is the longest.
"""

import numpy as np


def count_truncated_texts(source, text_preprocessor, batch_size=512):
    """Counts the texts of every split of `source` that `text_preprocessor` truncates.

    Args:
        source: a prepared `Source` (its examples' "text"; "id" names the longest when present).
        text_preprocessor: the `TextPreprocessor` the model reads text with.
        batch_size: texts tokenized at once.

    Returns:
        {"sequence_length", "max_tokens" (= sequence_length - 2), "vocabulary_size",
        "lowercase", "rows" (truncated texts in all splits), "by_split" ({split: rows}),
        "longest" ({"id", "split", "tokens"} of the text with the most tokens, truncated or
        not)}.
    """
    max_tokens = text_preprocessor.sequence_length - 2
    by_split, longest = {}, {"id": "", "split": "", "tokens": 0}
    for split in source.available_splits():
        texts = source.load(split).map(lambda x: (x["text"], x.get("id", "")))
        by_split[split] = 0
        for text, ids in texts.batch(batch_size).as_numpy_iterator():
            lengths = text_preprocessor.tokenizer(text).row_lengths().numpy()
            by_split[split] += int(np.count_nonzero(lengths > max_tokens))
            i = int(np.argmax(lengths))
            if lengths[i] > longest["tokens"]:
                name = ids[i].decode("utf-8") if isinstance(ids[i], bytes) else str(ids[i])
                longest = {"id": name, "split": split, "tokens": int(lengths[i])}
    return {
        "sequence_length": text_preprocessor.sequence_length,
        "max_tokens": max_tokens,
        "vocabulary_size": text_preprocessor.vocabulary_size,
        "lowercase": text_preprocessor.lowercase,
        "rows": sum(by_split.values()),
        "by_split": {split: rows for split, rows in by_split.items() if rows},
        "longest": longest,
    }
