"""TensorBoard extras beyond Keras's scalars: input media, embedding projector, hyperparameters.

    write_media      inputs/images, inputs/spectrograms (as images), inputs/audio
    write_projector  one checkpoint variable per modality + metadata.tsv + projector_config.pbtxt
    write_hparams    the HParams plugin's experiment config and this run's values
    write_hparams_config, write_session   an experiment and one session per run (tuning)
    write_attention_maps  attention/<layer>/<modality>/head_<h>: cross-attention maps as images
    MediaSummary     a callback that writes one batch's media when training begins

Everything is written eagerly with `tf.summary` into the given directory; the Keras `TensorBoard`
callback keeps writing the training scalars.
"""

import dataclasses
import enum
import os

import numpy as np
from tensorboard.plugins import projector
from tensorboard.plugins.hparams import api as hp

from mmlm.backend import keras, tf

PROJECTOR_METADATA = "metadata.tsv"
PROJECTOR_CHECKPOINT = "embeddings.ckpt"
_EMPTY_LABEL = "<empty>"


def spectrogram_images(spectrograms):
    """Log-mel spectrograms (B, T, M) → grayscale images (B, M, T, 1) in [0, 1].

    Each example is min-max normalized on its own (a constant spectrogram becomes black) and
    drawn with time to the right and frequency upwards: low mel bins in the bottom rows.
    """
    x = tf.cast(spectrograms, tf.float32)  # (B, T, M)
    low = tf.reduce_min(x, axis=[1, 2], keepdims=True)  # (B, 1, 1)
    high = tf.reduce_max(x, axis=[1, 2], keepdims=True)
    x = (x - low) / tf.maximum(high - low, 1e-12)
    x = tf.transpose(x, [0, 2, 1])  # (B, M, T)
    x = tf.reverse(x, axis=[1])  # image row 0 is the top: put the highest mel bin there
    return x[..., tf.newaxis]  # (B, M, T, 1)


def write_media(
    log_dir,
    *,
    images=None,
    spectrograms=None,
    audio=None,
    sample_rate=16000,
    step=0,
    max_outputs=4,
):
    """Writes input media summaries into `log_dir` (each argument may be None).

    Args:
        log_dir: the run directory to write an event file into.
        images: (B, H, W, 3) float in [0, 1] or uint8 → tag `inputs/images`.
        spectrograms: log-mel (B, T, M) → tag `inputs/spectrograms`, drawn by
            `spectrogram_images`.
        audio: waveforms (B, samples), float in [-1, 1] → tag `inputs/audio`.
        sample_rate: sampling rate of `audio` in Hz.
        step: the global step the summaries are recorded at.
        max_outputs: at most this many examples of each kind.
    """
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default(step=step):
        if images is not None:
            images = tf.convert_to_tensor(images)
            if images.dtype != tf.uint8:
                images = tf.cast(images, tf.float32)
            tf.summary.image("inputs/images", images, max_outputs=max_outputs)
        if spectrograms is not None:
            tf.summary.image(
                "inputs/spectrograms", spectrogram_images(spectrograms), max_outputs=max_outputs
            )
        if audio is not None:
            audio = tf.cast(audio, tf.float32)[..., tf.newaxis]  # (B, samples, 1)
            tf.summary.audio("inputs/audio", audio, sample_rate, max_outputs=max_outputs)
    writer.close()


def attention_images(maps, min_side=64):
    """Attention maps (B, Lq, Lk) → grayscale images (B, s·Lq, s·Lk, 1) in [0, 1].

    Each map is divided by its largest weight (a uniform map is then white, an all-zero one
    black) and each cell drawn as an s × s block, s the smallest integer that makes the longer
    side at least `min_side` pixels: queries are rows, keys columns.
    """
    x = tf.cast(maps, tf.float32)  # (B, Lq, Lk)
    x = x / tf.maximum(tf.reduce_max(x, axis=[1, 2], keepdims=True), 1e-12)
    longest = max(int(x.shape[1]), int(x.shape[2]), 1)
    scale = -(-min_side // longest)  # ceil
    x = tf.repeat(tf.repeat(x, scale, axis=1), scale, axis=2)
    return x[..., tf.newaxis]


def write_attention_maps(log_dir, maps, step=0, max_outputs=3):
    """Writes cross-attention maps as images, one tag per layer, query modality and head.

    Args:
        log_dir: the run directory to write an event file into.
        maps: {"layer_L/m": (B, num_heads, Lq, Lk)} (`MultimodalBackbone.attention_model`).
        step: the global step the images are recorded at.
        max_outputs: at most this many examples per tag.
    Returns:
        The tags written (`attention/layer_L/m/head_H`).
    """
    tags = []
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default(step=step), tf.summary.record_if(True):
        for name, values in maps.items():
            values = tf.convert_to_tensor(values)
            for head in range(int(values.shape[1])):
                tag = f"attention/{name}/head_{head}"
                tf.summary.image(tag, attention_images(values[:, head]), max_outputs=max_outputs)
                tags.append(tag)
    writer.close()
    return tags


def _projector_label(label):
    """One metadata.tsv cell: no tabs or newlines (they would split rows and columns)."""
    if isinstance(label, bytes):
        label = label.decode("utf-8", errors="replace")
    # TensorBoard skips blank metadata lines, which would shift every later label.
    return " ".join(str(label).split()) or _EMPTY_LABEL


def write_projector(log_dir, embeddings, labels):
    """Writes embeddings for TensorBoard's projector, one tensor per modality, labelled by caption.

    `log_dir` should be a directory of its own (say `<run>/projector`): the checkpoint's
    `checkpoint` index file would clash with other checkpoints saved there. A small event file is
    also written, so TensorBoard lists `log_dir` as a run when it is below `--logdir`.

    Args:
        log_dir: output directory (created if missing).
        embeddings: name → (N, D) NumPy array; the tensor is named `{name}_embeddings`.
        labels: N captions (str or bytes); tabs and newlines become spaces.
    Returns:
        The checkpoint prefix written.
    """
    labels = [_projector_label(label) for label in labels]
    variables = {}
    for name, values in embeddings.items():
        values = np.asarray(values, dtype=np.float32)
        if values.ndim != 2 or values.shape[0] != len(labels):
            raise ValueError(
                f"`embeddings['{name}']` has shape {values.shape}; expected ({len(labels)}, D) "
                f"to match the {len(labels)} labels."
            )
        variables[f"{name}_embeddings"] = tf.Variable(values, trainable=False)
    if not variables:
        raise ValueError("`embeddings` is empty.")

    tf.io.gfile.makedirs(log_dir)
    with tf.io.gfile.GFile(os.path.join(log_dir, PROJECTOR_METADATA), "w") as f:
        f.write("".join(f"{label}\n" for label in labels))
    # `save` (not `write`) also writes the `checkpoint` index file with a relative path, which
    # the projector uses to find the latest checkpoint, so the directory can be moved.
    prefix = tf.train.Checkpoint(**variables).save(os.path.join(log_dir, PROJECTOR_CHECKPOINT))

    config = projector.ProjectorConfig()
    for variable_name in variables:
        embedding = config.embeddings.add()
        embedding.tensor_name = f"{variable_name}/.ATTRIBUTES/VARIABLE_VALUE"
        embedding.metadata_path = PROJECTOR_METADATA
    projector.visualize_embeddings(log_dir, config)

    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default(step=0):
        names = ", ".join(variables)
        tf.summary.text("projector", f"{len(labels)} examples: {names}")
    writer.close()
    return prefix


def _hparam_value(value):
    """A value the HParams plugin accepts: bool, int, float or str."""
    if isinstance(value, enum.Enum):
        return value.value if isinstance(value.value, str) else value.name
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return ",".join(str(_hparam_value(item)) for item in items)
    return str(value)  # None → "None", paths, ...


def flatten_hparams(hparams, prefix=""):
    """Nested dicts (or dataclasses) → {"data.image.image_size": 64, ...} of plugin values."""
    if dataclasses.is_dataclass(hparams) and not isinstance(hparams, type):
        hparams = {f.name: getattr(hparams, f.name) for f in dataclasses.fields(hparams)}
    flat = {}
    for key, value in hparams.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) or (
            dataclasses.is_dataclass(value) and not isinstance(value, type)
        ):
            flat.update(flatten_hparams(value, prefix=f"{name}."))
        else:
            flat[name] = _hparam_value(value)
    return flat


def write_hparams(log_dir, hparams, metrics):
    """Writes the HParams plugin's experiment config and this run's hyperparameters.

    Args:
        log_dir: the run directory (the one holding Keras's `train/` and `validation/`).
        hparams: nested dict (dataclasses allowed); keys are joined with dots, enums, tuples and
            None become strings.
        metrics: scalar tags to show next to the hyperparameters, e.g. "epoch_val_loss" or
            "retrieval/text_to_image/R@1"; an `hp.Metric` instead of a tag sets its `group`
            (the subdirectory, e.g. "validation") or display name.
    Returns:
        The flattened hyperparameters written.
    """
    flat = flatten_hparams(hparams)
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default(step=0):
        hp.hparams_config(
            hparams=[hp.HParam(name) for name in flat],
            metrics=[m if isinstance(m, hp.Metric) else hp.Metric(m) for m in metrics],
        )
        hp.hparams(flat)
    writer.close()
    return flat


def write_hparams_config(log_dir, names, metrics):
    """Writes the HParams plugin's experiment (hyperparameter names, metric tags) alone.

    With `write_session` per run in subdirectories of `log_dir`, TensorBoard shows one table
    row per run (what `mmlm tune` writes for its trials).
    """
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default(step=0):
        hp.hparams_config(
            hparams=[hp.HParam(name) for name in names],
            metrics=[hp.Metric(tag) for tag in metrics],
        )
    writer.close()


def write_session(log_dir, hparams, scalars, session_id, step):
    """One HParams session in `log_dir`: its values and its metric scalars at `step`.

    Args:
        log_dir: the session's directory (a subdirectory of `write_hparams_config`'s).
        hparams: {name: value} (flattened as `write_hparams` does).
        scalars: {tag: float}, the metrics the experiment names.
        session_id: the session's name in the table (e.g. "trial 3").
        step: the step the scalars are recorded at.
    """
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default(step=step):
        hp.hparams(flatten_hparams(hparams), trial_id=session_id)
        for tag, value in scalars.items():
            tf.summary.scalar(tag, value)
    writer.close()


def _present(batch, key, modality):
    """The rows of `batch[key]` whose `{modality}_present` flag is set (all rows without one)."""
    values = batch.get(key)
    if values is None:
        return None
    flags = batch.get(f"{modality}_present")
    if flags is not None:
        values = tf.boolean_mask(values, tf.reshape(flags, [-1]))
    return values if values.shape[0] else None


class MediaSummary(keras.callbacks.Callback):
    """Writes one batch's images, spectrograms and audio to TensorBoard when training begins.

    Args:
        log_dir: run directory for the event file.
        batch: a batch dict of the data pipeline (`images`, `audio`, optional `spectrogram`,
            `image_present`, `audio_present`), or a `(features, labels)` tuple of one. Examples
            whose modality is absent are skipped.
        spectrogram_fn: maps the batch's audio (B, samples) to log-mel (B, T, M), used when the
            batch has no `spectrogram` (the model computes it, say).
        sample_rate: sampling rate of the audio in Hz.
        max_outputs: at most this many examples of each kind.

    Example:
    >>> batch = next(iter(dataset))
    >>> model.fit(dataset, callbacks=[MediaSummary("runs/exp/train", batch)])
    """

    def __init__(self, log_dir, batch, spectrogram_fn=None, sample_rate=16000, max_outputs=4):
        super().__init__()
        self.log_dir = log_dir
        self.batch = batch[0] if isinstance(batch, (tuple, list)) else batch
        self.spectrogram_fn = spectrogram_fn
        self.sample_rate = sample_rate
        self.max_outputs = max_outputs

    def on_train_begin(self, logs=None):
        audio = _present(self.batch, "audio", "audio")
        spectrograms = _present(self.batch, "spectrogram", "audio")
        if spectrograms is None and audio is not None and self.spectrogram_fn is not None:
            spectrograms = self.spectrogram_fn(audio)
        optimizer = getattr(self.model, "optimizer", None)
        step = int(optimizer.iterations.numpy()) if optimizer is not None else 0
        write_media(
            self.log_dir,
            images=_present(self.batch, "images", "image"),
            spectrograms=spectrograms,
            audio=audio,
            sample_rate=self.sample_rate,
            step=step,  # a resumed run shows its inputs at the step it resumed from
            max_outputs=self.max_outputs,
        )
