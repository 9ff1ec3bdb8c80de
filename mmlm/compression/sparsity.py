"""Measured sparsity of prunable weights, and its TensorBoard summaries."""

import numpy as np

from mmlm.backend import keras, tf
from mmlm.compression.pruning import all_layers, is_prunable, prunable_weights, pruning_wrappers


def weight_paths(model):
    """{id(variable): "tower/layer/sublayer/weight"}: unique, readable names for every weight.

    Keras variable names repeat across towers (every encoder has a `block_0/kernel:0`, twice:
    the feed-forward input and output), so names are built from the layer tree instead, e.g.
    `image_encoder/block_0/self_attention_layer/query/kernel`. A shared layer keeps the first
    path found; pruning wrappers are transparent.
    """
    paths = {}

    def visit(layer, prefix):
        if isinstance(layer, keras.layers.Wrapper):
            visit(layer.layer, prefix)  # first: a wrapper also lists the layer's weights
        else:
            for child in layer._flatten_layers(recursive=False, include_self=False):  # noqa: SLF001
                visit(child, f"{prefix}/{_unwrapped(child).name}")
        own = layer._trainable_weights + layer._non_trainable_weights  # noqa: SLF001
        for weight in own:
            paths.setdefault(id(weight), f"{prefix}/{weight.name.split('/')[-1].split(':')[0]}")

    for child in model._flatten_layers(recursive=False, include_self=False):  # noqa: SLF001
        visit(child, _unwrapped(child).name)
    return paths


def _unwrapped(layer):
    return layer.layer if isinstance(layer, keras.layers.Wrapper) else layer


def _prunable_variables(model):
    """[(path, variable)] of the weights `prune_model` would prune, each once."""
    paths = weight_paths(model)
    found = {}
    for layer in all_layers(model):
        target = _unwrapped(layer)
        if is_prunable(target):
            for weight in prunable_weights(target):
                found.setdefault(id(weight), (paths.get(id(weight), weight.name), weight))
    return sorted(found.values(), key=lambda pair: pair[0])


def sparsity_report(model):
    """Share of exact zeros in every prunable weight of a (stripped) model.

    Args:
        model: a functional model or backbone, after `strip_pruning` (or never pruned).
    Returns:
        {"weights": {path: {"sparsity": float, "size": int}}, "overall": {"sparsity": float,
        "size": int}}: per weight (`weight_paths` names) and over all of them together.
    """
    weights, zeros, total = {}, 0, 0
    for path, variable in _prunable_variables(model):
        values = variable.numpy()
        count = int(np.count_nonzero(values == 0))
        weights[path] = {"sparsity": count / values.size, "size": int(values.size)}
        zeros, total = zeros + count, total + values.size
    if not weights:
        raise ValueError(f"{model.name} has no prunable weights.")
    return {"weights": weights, "overall": {"sparsity": zeros / total, "size": int(total)}}


def write_sparsity_summaries(report, log_dir, step):
    """Writes `sparsity/<weight path>` and `sparsity/overall` scalars of a `sparsity_report`."""
    writer = tf.summary.create_file_writer(log_dir)
    _write_scalars(writer, report, step)
    writer.close()


def _write_scalars(writer, report, step):
    with writer.as_default():
        for path, entry in report["weights"].items():
            tf.summary.scalar(f"sparsity/{path}", entry["sparsity"], step=step)
        tf.summary.scalar("sparsity/overall", report["overall"]["sparsity"], step=step)
    writer.flush()


def mask_sparsity_report(model):
    """`sparsity_report` of the current masks of a pruned (wrapped) model, before stripping."""
    paths = weight_paths(model)
    weights, zeros, total = {}, 0, 0
    for wrapper in pruning_wrappers(model):
        for weight, mask, _ in wrapper.pruning_vars:
            values = mask.numpy()
            count = int(np.count_nonzero(values == 0))
            path = paths.get(id(weight), weight.name)
            weights[path] = {"sparsity": count / values.size, "size": int(values.size)}
            zeros, total = zeros + count, total + values.size
    return {"weights": weights, "overall": {"sparsity": zeros / max(total, 1), "size": total}}


class SparsitySummaries(keras.callbacks.Callback):
    """Logs the pruning masks' sparsity to TensorBoard while training (TFMOT's PruningSummaries).

    The weights are named as in `sparsity_report` of the model's `backbone` (for a task) or of
    the model, so the final, stripped report continues the same curves.

    Args:
        log_dir: summary directory.
        every: optimizer steps between writes (masks change every `pruning_frequency` steps);
            also written at the end of training.
    """

    def __init__(self, log_dir, every=10):
        super().__init__()
        self.log_dir = log_dir
        self.every = every
        self._writer = None

    def _write(self):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        step = int(self.model.optimizer.iterations.numpy())
        pruned = getattr(self.model, "backbone", self.model)  # a task: name weights as its backbone
        _write_scalars(self._writer, mask_sparsity_report(pruned), step)

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) % self.every == 0:
            self._write()

    def on_train_end(self, logs=None):
        self._write()
        self._writer.close()
        self._writer = None
