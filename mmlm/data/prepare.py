"""`prepare_data`: make a source's data available and train its tokenizer vocabulary."""

import glob
import os
import shutil

from mmlm import atomic_files
from mmlm.data import factory
from mmlm.data.preprocessing import vocabulary as vocab_lib
from mmlm.data.text_truncation import count_truncated_texts
from mmlm.data.validation_report import describe_truncation


def prepare_data(config, log=print):
    """Generates / ingests the data of `config` (a `DataConfig`) and trains the vocabulary.

    Returns:
        A dict: `source` (the prepared `Source`), `vocabulary_path`, `vocabulary_size`.
    """
    source = factory.make_source(config)
    already_prepared = source.is_prepared()
    log(f"preparing {source.name} in {os.path.abspath(config.data_dir)}")
    if not already_prepared:
        for path in remove_interrupted_preparations(source.builder.data_dir):
            log(f"removed {path}, left by an interrupted preparation")
    with atomic_files.disk_full_errors(config.data_dir):
        source.prepare()  # TFDS writes into a temporary folder renamed when complete
    path = factory.vocabulary_path(config, source)
    if already_prepared and os.path.isfile(path):
        vocabulary = vocab_lib.load_vocabulary(path)
        log(f"data and vocabulary ({len(vocabulary)} tokens) already prepared: {path}")
    elif "text" in source.modalities:
        texts = source.vocabulary_texts("train")
        size = config.text.vocabulary_size
        if not size:
            size, words = vocab_lib.auto_vocabulary_size(texts, config.text.lowercase)
            log(f"vocabulary size {size} from the training texts ({words} words occur twice+)")
        vocabulary = vocab_lib.train_vocabulary(texts, size, lowercase=config.text.lowercase)
        vocab_lib.save_vocabulary(vocabulary, path)
        log(f"trained a WordPiece vocabulary of {len(vocabulary)} tokens → {path}")
    else:
        vocabulary = []
    _report_text_truncation(config, source, vocabulary, log)
    missing = [s for s in ("train", "validation", "test") if s not in source.available_splits()]
    if missing:
        log(f"warning: {source.name} has no {' or '.join(missing)} split: {_consequence(missing)}")
    return {"source": source, "vocabulary_path": path, "vocabulary_size": len(vocabulary)}


def remove_interrupted_preparations(version_dir):
    """Removes the temporary folders a killed TFDS preparation of `version_dir` left (TFDS
    fills `incomplete.RANDOM_VERSION` beside it and renames it into place when complete, but
    never removes one a killed process left); returns their paths. Two preparations of one
    data set at once are not supported (each would remove the other's folder)."""
    folder, version = os.path.split(os.path.abspath(version_dir))
    pattern = os.path.join(glob.escape(folder), f"incomplete.*_{glob.escape(version)}")
    leftovers = sorted(glob.glob(pattern))
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    return leftovers


def _report_text_truncation(config, source, vocabulary, log):
    """Counts and logs the captions the model truncates, for a source with an ingestion report
    (a manifest), which keeps the count: it is redone only for another vocabulary or length."""
    if not vocabulary or not hasattr(source, "record_text_truncation"):
        return
    text_preprocessor = factory.text_preprocessor(config, vocabulary)
    current = {
        "sequence_length": text_preprocessor.sequence_length,
        "vocabulary_size": text_preprocessor.vocabulary_size,
        "lowercase": text_preprocessor.lowercase,
    }
    truncation = source.text_truncation()
    if truncation is None or any(truncation.get(k) != v for k, v in current.items()):
        truncation = count_truncated_texts(source, text_preprocessor)
        source.record_text_truncation(truncation)
    log(describe_truncation(truncation))


def _consequence(missing):
    what = {
        "train": "nothing to train on",
        "validation": "training runs without validation",
        "test": "`mmlm evaluate` needs --split",
    }
    return "; ".join(what[s] for s in missing)


def load_prepared(config, vocabulary=True):
    """The prepared source of `config` and its vocabulary (fails clearly if not prepared).

    Args:
        config: a `DataConfig`.
        vocabulary: also load the vocabulary trained by `prepare_data` (else None is returned).
    """
    source = factory.make_source(config)
    if not source.is_prepared():
        raise FileNotFoundError(
            f"data set {source.name} is not prepared in {os.path.abspath(config.data_dir)}; "
            "run `mmlm data generate --config ...` with the same data settings first"
        )
    words = None
    if vocabulary and "text" in source.modalities:
        words = vocab_lib.load_vocabulary(factory.vocabulary_path(config, source))
    return source, words
