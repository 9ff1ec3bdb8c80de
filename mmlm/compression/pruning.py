"""Magnitude pruning of mmlm models with TFMOT.

`prune_low_magnitude` on a whole model fails on any layer TFMOT does not know, so layers are
wrapped one by one through `clone_model`'s `clone_function`: Keras layers TFMOT supports, and
mmlm / keras-nlp layers that declare their prunable kernels (`PrunableKernelsMixin`), which are
registered here as TFMOT `PrunableLayer`s. The wrapped layers are the original ones, so training
the pruned model trains (and `strip_pruning` sparsifies) the original weights.

What gets pruned: the kernels of every Dense, EinsumDense (attention query/key/value/output)
and Conv inside the Transformer blocks, the patch embeddings and the projection heads, top-level
Dense layers (the decoder's `lm_head`) and the token embedding tables. Biases, LayerNorms,
position embeddings and learned tokens stay dense.
"""

import inspect

# `mmlm/__init__` has selected tf_keras by now, as TFMOT needs.
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.sparsity.keras import (
    prune_registry,
    pruning_impl,
    pruning_wrapper,
)

from mmlm.backend import keras, tf
from mmlm.compression import m_by_n
from mmlm.compression.cloning import clone_backbone, memoized_cloner
from mmlm.config.sections import PruningSchedule
from mmlm.layers.prunable import PrunableKernelsMixin

_sparsity = tfmot.sparsity.keras
_PrunableLayer = _sparsity.PrunableLayer


def make_pruning_schedule(
    schedule, final_sparsity, end_step, initial_sparsity=0.0, frequency=10, begin_step=0
):
    """The TFMOT pruning schedule of a `PruningSchedule` choice.

    Steps count optimizer steps from 1 (see `UpdatePruningStep`); masks are recomputed every
    `frequency` steps between `begin_step` and `end_step`.

    Args:
        schedule: a `PruningSchedule` (or its value): POLYNOMIAL grows the sparsity from
            `initial_sparsity` to `final_sparsity` (cubic, TFMOT's `PolynomialDecay`), CONSTANT
            prunes to `final_sparsity` at every update (`ConstantSparsity`).
        final_sparsity: sparsity in [0, 1) at `end_step` and after.
        end_step: last step at which masks change.
        initial_sparsity: sparsity at `begin_step` (POLYNOMIAL only).
        frequency: steps between mask updates.
        begin_step: first step at which masks may change.
    Returns:
        A `tfmot.sparsity.keras.PruningSchedule`.
    """
    schedule = PruningSchedule(schedule)
    if not 0.0 <= final_sparsity < 1.0:
        raise ValueError(f"final_sparsity must be in [0, 1), got {final_sparsity}.")
    if end_step <= begin_step or frequency < 1:
        raise ValueError(
            f"Need begin_step < end_step and frequency >= 1, got begin_step={begin_step}, "
            f"end_step={end_step}, frequency={frequency}."
        )
    if schedule is PruningSchedule.CONSTANT:
        return _sparsity.ConstantSparsity(
            final_sparsity, begin_step=begin_step, end_step=end_step, frequency=frequency
        )
    return _sparsity.PolynomialDecay(
        initial_sparsity=initial_sparsity,
        final_sparsity=final_sparsity,
        begin_step=begin_step,
        end_step=end_step,
        frequency=frequency,
    )


class PruneLowMagnitude(pruning_wrapper.PruneLowMagnitude):
    """TFMOT's pruning wrapper, scheduled by optimizer steps, for every layer mmlm uses.

    Three changes to TFMOT's wrapper:

    - the schedule reads `optimizer_step`, which this module's `UpdatePruningStep` sets before
      every batch. TFMOT's `pruning_step` advances at every call in training, and a pretraining
      step calls the encoders' layers twice (plain and masked inputs) and once per accumulation
      micro-batch, so TFMOT's schedule would run ahead of the optimizer (and masks would update
      at the wrong steps);
    - layers called with several positional tensors (keras-nlp's decoder blocks:
      `block(decoder_sequence, encoder_sequence, ...)`) get them by name rather than as
      `training`;
    - with `sparsity_m_by_n`, the m:n groups run along the input (reduction) axes of every
      kernel, which TFMOT only does for rank-2 and rank-4 kernels (see `m_by_n`).

    Args: those of `tfmot.sparsity.keras.prune_low_magnitude` for one layer.
    """

    def build(self, input_shape):
        super().build(input_shape)
        self.optimizer_step = self.add_weight(
            "optimizer_step",
            shape=[],
            initializer=keras.initializers.Constant(-1),
            dtype=tf.int64,
            trainable=False,
        )
        kwargs = {
            "training_step_fn": self._schedule_step,
            "pruning_vars": self.pruning_vars,
            "pruning_schedule": self.pruning_schedule,
            "block_size": self.block_size,
            "sparsity_m_by_n": self.sparsity_m_by_n,
            "block_pooling_type": self.block_pooling_type,
        }
        if self.sparsity_m_by_n:
            axes = m_by_n.reduction_axes(self.layer, self.prunable_weights)
            self.pruning_obj = m_by_n.MByNPruning(axes, **kwargs)
        else:
            self.pruning_obj = pruning_impl.Pruning(**kwargs)

    def _schedule_step(self):
        """The 1-based optimizer step of the current batch (read when masks may update)."""
        check = tf.debugging.assert_positive(
            self.optimizer_step,
            message="Train pruned mmlm models with mmlm.compression.pruning.UpdatePruningStep.",
        )
        with tf.control_dependencies([check]):
            return tf.identity(self.optimizer_step)

    def call(self, inputs, *args, training=None, **kwargs):
        if args:
            names = list(inspect.signature(self.layer.call).parameters)[1:]
            kwargs.update(zip(names, args))
        return super().call(inputs, training=training, **kwargs)


def _register_prunable(cls):
    if not issubclass(cls, _PrunableLayer):
        _PrunableLayer.register(cls)  # an ABC: a virtual subclass satisfies TFMOT's isinstance


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def register_prunable_layers():
    """Makes every `PrunableKernelsMixin` layer a TFMOT `PrunableLayer` (idempotent)."""
    for cls in _all_subclasses(PrunableKernelsMixin):
        _register_prunable(cls)


def is_prunable(layer):
    """Whether TFMOT can wrap `layer` (a supported Keras layer or a `PrunableLayer`)."""
    register_prunable_layers()
    if isinstance(layer, (_PrunableLayer, PrunableKernelsMixin)):
        return True
    return prune_registry.PruneRegistry.supports(layer) and bool(
        prune_registry.PruneRegistry._weight_names(layer)  # noqa: SLF001  (TFMOT's own table)
    )


def prunable_weights(layer):
    """The weights TFMOT prunes in a prunable layer (its kernels / embedding table)."""
    if hasattr(layer, "get_prunable_weights"):
        return list(layer.get_prunable_weights())
    names = prune_registry.PruneRegistry._weight_names(layer)  # noqa: SLF001
    return [getattr(layer, name) for name in names]


def _layer_wrapper(pruning_schedule, sparsity_m_by_n):
    """`layer -> layer` wrapping prunable layers (see `memoized_cloner` for nested models)."""
    register_prunable_layers()

    def clone(layer):
        if not is_prunable(layer):
            return layer  # shared: keeps its trained weights
        if sparsity_m_by_n and not m_by_n.supports(layer, prunable_weights(layer)):
            return layer  # embedding tables: no input axis for m:n groups
        return PruneLowMagnitude(
            layer, pruning_schedule=pruning_schedule, sparsity_m_by_n=sparsity_m_by_n
        )

    return clone


def prune_model(model, pruning_schedule, sparsity_m_by_n=None):
    """A copy of a functional `model` with every prunable layer wrapped for magnitude pruning.

    The wrappers hold the original layers, so the trained weights carry over. Nested functional
    models (encoders inside an embedding model) are cloned recursively.

    Args:
        model: a functional model (e.g. `backbone.embedding_model("image")`).
        pruning_schedule: a TFMOT schedule (`make_pruning_schedule`).
        sparsity_m_by_n: e.g. (2, 4): m zeros in every n consecutive weights along each
            kernel's input axes instead of unstructured pruning. TFMOT computes the m:n mask
            once, at the first training step, and ignores the schedule's sparsity. Embedding
            tables are left dense.
    Returns:
        The wrapped functional model; train it with an `UpdatePruningStep` callback.
    """
    clone = memoized_cloner(_layer_wrapper(pruning_schedule, sparsity_m_by_n))
    return keras.models.clone_model(model, clone_function=clone)


def prune_backbone(backbone, pruning_schedule, sparsity_m_by_n=None):
    """`prune_model` for a whole `MultimodalBackbone`, trainable with `PretrainingTask`.

    Every tower's graphs (plain and masked) call the same wrappers; the fusion and decoder
    blocks, the decoder's `lm_head` and the projection heads are wrapped too.

    Args:
        backbone: a `MultimodalBackbone` (its layers are shared with the result).
        pruning_schedule, sparsity_m_by_n: see `prune_model`.
    Returns:
        A `MultimodalBackbone` with pruning wrappers (see `mmlm.compression.cloning`).
    """
    return clone_backbone(backbone, _layer_wrapper(pruning_schedule, sparsity_m_by_n))


def strip_pruning(pruned, model):
    """Applies the final masks of `pruned` (from `prune_model(model, ...)`) and returns `model`.

    TFMOT's own `strip_pruning` cannot rebuild nested functional models (it loses the renamed
    inner layers); the wrappers share their layers with `model`, so writing the masked weights
    back is all stripping needs.
    """
    for layer in pruning_wrappers(pruned):
        for weight, mask, _ in layer.pruning_vars:
            weight.assign(weight * tf.cast(mask, weight.dtype))
    return model


def pruning_wrappers(model):
    """The distinct pruning wrappers of a model (nested models and shared layers included)."""
    seen = {}
    for layer in all_layers(model):
        if isinstance(layer, pruning_wrapper.PruneLowMagnitude):
            seen.setdefault(id(layer), layer)
    return list(seen.values())


class UpdatePruningStep(_sparsity.UpdatePruningStep):
    """TFMOT's `UpdatePruningStep` for this module's wrappers: schedules follow the optimizer.

    Before every batch, each wrapper's `optimizer_step` becomes the optimizer's iteration count
    plus one (the 1-based step TFMOT's schedules expect), however many times the wrapper is
    called in the step, and after a resume as well (the optimizer's count is restored). With
    `steps_per_execution` > 1 Keras calls it once per execution, so masks may update up to
    `steps_per_execution - 1` steps late.
    """

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.prunable_layers = pruning_wrappers(self.model)

    def on_train_batch_begin(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy()) + 1
        keras.backend.batch_set_value(
            [(layer.optimizer_step, step) for layer in self.prunable_layers]
        )


def all_layers(model):
    """Every layer of `model`, recursing into nested models (shared layers repeat)."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)
