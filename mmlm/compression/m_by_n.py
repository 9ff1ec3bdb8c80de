"""m:n structured sparsity (e.g. 2:4) along the input axes of every kernel.

An m:n pattern helps only if the groups run along the axis a matmul reduces over: TFLite stores
a FULLY_CONNECTED kernel as (out, in) and a CONV_2D kernel as (out, h, w, in), so the groups
must be consecutive input channels. TFMOT does this for rank-2 (Dense) and rank-4 (Conv)
kernels and raises on anything else; the attention projections of keras-nlp's blocks are
EinsumDense kernels of rank 3 — (hidden, heads, head_dim) for query/key/value and
(heads, head_dim, hidden) for the output — whose input axes are read from the einsum equation
here. Embedding tables are looked up, not multiplied, and have no input axis: they stay dense.
"""

import math

from tensorflow_model_optimization.python.core.sparsity.keras import (
    pruning_impl,
    pruning_utils,
)

from mmlm.backend import keras, tf


def kernel_input_axes(layer):
    """The input (reduction) axes of a Dense / EinsumDense / Conv layer's kernel, else None."""
    if isinstance(layer, keras.layers.Dense):
        return (0,)
    if isinstance(layer, keras.layers.EinsumDense):
        inputs, rest = layer.equation.split(",")
        kernel, outputs = rest.split("->")
        return tuple(i for i, axis in enumerate(kernel) if axis in inputs and axis not in outputs)
    if isinstance(layer, keras.layers.Conv2D):
        # (h, w, in, out); TFLite stores (out, h, w, in). Groups run along the flattened
        # (h, w, in), TFLite's memory order: the same groups as TFMOT's (along `in`) when
        # `in` is a multiple of n, and still n-long when it is not (3-channel patch embeddings).
        return (0, 1, 2)
    return None


def reduction_axes(layer, weights):
    """For each of `weights` (kernels of `layer` or of its sublayers), its input axes or None."""
    axes = {}
    for sublayer in layer._flatten_layers(include_self=True):  # noqa: SLF001
        kernel = getattr(sublayer, "kernel", None)
        found = kernel_input_axes(sublayer)
        if kernel is not None and found is not None:
            axes[id(kernel)] = found
    return [axes.get(id(weight)) for weight in weights]


def supports(layer, weights):
    """Whether every one of `weights` has input axes for m:n groups."""
    return bool(weights) and all(axes is not None for axes in reduction_axes(layer, weights))


def m_by_n_mask(weights, input_axes, m_by_n=(2, 4)):
    """A 0/1 mask keeping the n - m largest magnitudes of every n consecutive input weights.

    Args:
        weights: a kernel of static shape.
        input_axes: its input (reduction) axes; groups run along them, flattened in order.
        m_by_n: (m, n): m zeros in each group of n.
    Returns:
        A mask of the kernel's shape and dtype.
    """
    rank = weights.shape.rank
    output_axes = [axis for axis in range(rank) if axis not in input_axes]
    permutation = output_axes + list(input_axes)
    moved = tf.transpose(weights, permutation)
    rows = math.prod(weights.shape[a] for a in output_axes)
    columns = math.prod(weights.shape[a] for a in input_axes)
    mask = pruning_utils.generate_m_by_n_mask(tf.reshape(moved, (rows, columns)), m_by_n)
    mask = tf.reshape(mask, moved.shape)
    return tf.cast(tf.transpose(mask, tf.math.invert_permutation(permutation)), weights.dtype)


class MByNPruning(pruning_impl.Pruning):
    """TFMOT's `Pruning` with m:n masks along each kernel's input axes (any kernel rank).

    Args:
        input_axes: one entry per pruning variable: its input axes.
        **kwargs: `pruning_impl.Pruning` arguments (with `sparsity_m_by_n`).
    """

    def __init__(self, input_axes, **kwargs):
        super().__init__(**kwargs)
        self._input_axes = {
            id(weight): axes for (weight, _, _), axes in zip(kwargs["pruning_vars"], input_axes)
        }

    def _update_mask_sparsity_m_by_n(self, weights, m_by_n=(2, 4)):
        axes = self._input_axes.get(id(weights))
        if axes is None:
            raise ValueError(
                f"{weights.name} {weights.shape} has no input axes for m:n sparsity (only "
                "Dense, EinsumDense and Conv2D kernels have)."
            )
        return m_by_n_mask(weights, axes, m_by_n)
