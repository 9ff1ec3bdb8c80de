"""What magnitude pruning may touch in a composite layer.

TFMOT prunes a layer it does not know only if the layer tells it which weights to prune
(`get_prunable_weights`, the `PrunableLayer` protocol). `mmlm.compression` registers every
class using this mixin as a `PrunableLayer`, so `layers/` does not import TFMOT.
"""


class PrunableKernelsMixin:
    """Exposes every kernel of the layer's Dense/EinsumDense/Conv sublayers as prunable.

    Biases, LayerNorm scales and learned tokens stay dense: they are a tiny share of the
    weights and pruning them hurts accuracy for no size gain.
    """

    def get_prunable_weights(self):
        return [w for w in self.trainable_weights if _short_name(w).startswith("kernel")]


def _short_name(variable):
    return variable.name.split("/")[-1]
