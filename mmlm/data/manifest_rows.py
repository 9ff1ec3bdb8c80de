"""A manifest's rows as raw examples for a preset's `MultimodalPreprocessor`.

`mmlm data generate` ingests a manifest into a data set tokenized with the experiment's own
vocabulary. A preset brings its own preprocessor instead, so inference and fine-tuning from a
preset read the rows here: checked and decoded exactly as ingestion does (docs/manifest.md:
images to RGB at the preprocessor's size, audio to mono at its sample rate), with tokenizing
left to the preprocessor. The decoded rows are held in memory, which suits the thousands of
rows of a fine-tuning or evaluation set; train on larger manifests with `mmlm pretrain`.
"""

import tensorflow as tf

from mmlm.data.sources.manifest import read_manifest

MODALITIES = ("text", "image", "audio")
_STRING = tf.TensorSpec([], tf.string)


def read_manifest_rows(path, preprocessor, split=None, skip_invalid=False):
    """The valid rows of a JSONL or CSV manifest, decoded the way `preprocessor` reads them.

    Args:
        path: the manifest (docs/manifest.md); relative media paths resolve against its folder.
        preprocessor: the `MultimodalPreprocessor` the rows are for.
        split: keep only the rows of this split ("train", "validation", "test"); None: all.
        skip_invalid: skip invalid rows (with a logged summary) instead of raising at the first.

    Returns:
        A list of dicts, in file order: "id" and "split" (str), "label" (str, "" without one),
        "text" (str), "image" ((S, S, 3) uint8, S = the preprocessor's image size) and "audio"
        ((N,) int16 at its sample rate), each None when the row lacks it or the preprocessor
        has no such modality.

    Raises:
        DataValidationError: an invalid row (without `skip_invalid`), naming line and problem.
    """
    image = preprocessor.image_preprocessor
    audio = preprocessor.audio_preprocessor
    rows = read_manifest(
        path,
        # Media of a modality the preprocessor lacks is still checked, at a nominal size.
        image_size=image.image_size if image is not None else 32,
        sample_rate=audio.sample_rate if audio is not None else 16000,
        skip_invalid=skip_invalid,
    )
    result = []
    for _, row in rows:
        if split is not None and row["split"] != split:
            continue
        row["text"] = row["text"] or None  # ingestion's "" for "no caption"
        for modality in MODALITIES:
            if modality not in preprocessor.modalities:
                row[modality] = None
        result.append(row)
    return result


def rows_dataset(rows, modality):
    """The `rows` that have `modality`, as an unbatched `tf.data.Dataset`.

    Elements are `{modality: the raw value, "id": str, "label": str}`. Batch them with
    `ragged_batch` (audio lengths differ; images and text batch as dense tensors) and map the
    preprocessor over the batches; "id" and "label" pass through it.

    Example:
    >>> rows = read_manifest_rows("my_data/manifest.jsonl", preprocessor, split="test")
    >>> batches = rows_dataset(rows, "image").ragged_batch(32).map(preprocessor)
    """
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    kept = [row for row in rows if row[modality] is not None]
    if not kept:
        raise ValueError(f"none of the {len(rows)} rows has {modality!r}")
    signature = {modality: _spec(modality, kept[0][modality]), "id": _STRING, "label": _STRING}
    return tf.data.Dataset.from_generator(
        lambda: ({key: row[key] for key in signature} for row in kept),
        output_signature=signature,
    )


def _spec(modality, value):
    # Images all have the preprocessor's size, so they batch densely; waveforms vary in length.
    if modality == "text":
        return _STRING
    if modality == "image":
        return tf.TensorSpec(value.shape, tf.uint8)
    return tf.TensorSpec([None], tf.int16)
