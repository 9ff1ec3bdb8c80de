"""`prepare_data`: make a source's data available and train its tokenizer vocabulary."""

import os

from mmlm.data import factory
from mmlm.data.preprocessing import vocabulary as vocab_lib


def prepare_data(config, log=print):
    """Generates / ingests the data of `config` (a `DataConfig`) and trains the vocabulary.

    Returns:
        A dict: `source` (the prepared `Source`), `vocabulary_path`, `vocabulary_size`.
    """
    source = factory.make_source(config)
    already_prepared = source.is_prepared()
    log(f"preparing {source.name} in {os.path.abspath(config.data_dir)}")
    source.prepare()
    path = factory.vocabulary_path(config, source)
    if already_prepared and os.path.isfile(path):
        vocabulary = vocab_lib.load_vocabulary(path)
        log(f"data and vocabulary ({len(vocabulary)} tokens) already prepared: {path}")
    elif "text" in source.modalities:
        vocabulary = vocab_lib.train_vocabulary(
            source.vocabulary_texts("train"),
            config.text.vocabulary_size,
            lowercase=config.text.lowercase,
        )
        vocab_lib.save_vocabulary(vocabulary, path)
        log(f"trained a WordPiece vocabulary of {len(vocabulary)} tokens → {path}")
    else:
        vocabulary = []
    return {"source": source, "vocabulary_path": path, "vocabulary_size": len(vocabulary)}


def load_prepared(config):
    """The prepared source of `config` and its vocabulary (fails clearly if not prepared)."""
    source = factory.make_source(config)
    if not source.is_prepared():
        raise FileNotFoundError(
            f"data set {source.name} is not prepared in {os.path.abspath(config.data_dir)}; "
            "run `mmlm data generate --config ...` with the same data settings first"
        )
    vocabulary = None
    if "text" in source.modalities:
        vocabulary = vocab_lib.load_vocabulary(factory.vocabulary_path(config, source))
    return source, vocabulary
