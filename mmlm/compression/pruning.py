"""Magnitude pruning of mmlm models with TFMOT.

`prune_low_magnitude` on a whole model fails on any layer TFMOT does not know, so layers are
wrapped one by one through `clone_model`'s `clone_function`: Keras layers TFMOT supports, and
mmlm / keras-nlp layers that declare their prunable kernels (`PrunableKernelsMixin`), which are
registered here as TFMOT `PrunableLayer`s.
"""

import tensorflow_model_optimization as tfmot  # noqa: E402, I001

from mmlm.backend import keras, tf  # before TFMOT: it must see tf_keras selected
from mmlm.layers.prunable import PrunableKernelsMixin

_sparsity = tfmot.sparsity.keras
_PrunableLayer = _sparsity.PrunableLayer


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
    from tensorflow_model_optimization.python.core.sparsity.keras import prune_registry

    return prune_registry.PruneRegistry.supports(layer) and bool(
        prune_registry.PruneRegistry._weight_names(layer)  # noqa: SLF001  (TFMOT's own table)
    )


def prune_model(model, pruning_schedule):
    """A copy of a functional `model` with every prunable layer wrapped for magnitude pruning.

    The wrappers hold the original layers, so the trained weights carry over. Nested functional
    models (encoders inside a backbone) are cloned recursively.
    """
    register_prunable_layers()

    def clone(layer):
        if isinstance(layer, keras.Model) and hasattr(layer, "_is_graph_network"):
            if layer._is_graph_network:  # noqa: SLF001
                return keras.models.clone_model(layer, clone_function=clone)
        if is_prunable(layer):
            return _sparsity.prune_low_magnitude(layer, pruning_schedule=pruning_schedule)
        return layer  # shared: keeps its trained weights

    return keras.models.clone_model(model, clone_function=clone)


def strip_pruning(pruned, model):
    """Applies the final masks of `pruned` (from `prune_model(model, ...)`) and returns `model`.

    TFMOT's own `strip_pruning` cannot rebuild nested functional models (it loses the renamed
    inner layers); the wrappers share their layers with `model`, so writing the masked weights
    back is all stripping needs.
    """
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

    for layer in all_layers(pruned):
        if isinstance(layer, pruning_wrapper.PruneLowMagnitude):
            for weight, mask, _ in layer.pruning_vars:
                weight.assign(weight * tf.cast(mask, weight.dtype))
    return model


def all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)
