"""Quantization-aware training (QAT) of mmlm backbones with TFMOT.

`tfmot.quantization.keras.quantize_apply` takes flat Sequential/functional models of layers it
knows; a backbone nests functional towers, and almost every matmul sits inside a custom layer
(keras-nlp Transformer blocks with MultiHeadAttention → EinsumDense, the patch embedding's
Conv2D, the projection head's Dense). So, as the TF Model Garden's quantized Transformer layers
do, the quantize wrappers go *inside* those layers: `quantize_backbone` copies the backbone and
replaces, in every block, patch embedding and projection head, the sublayers

- Dense, EinsumDense (attention query/key/value/output, feed-forward): 8-bit per-tensor
  symmetric fake-quantized kernel, fake-quantized output (around GELU: before and after);
- Conv2D (patch embeddings): per-channel 8-bit kernel, fake-quantized output;
- LayerNormalization (pre-attention, pre-feed-forward, projection head): fake-quantized output

by `QuantizeWrapperV2`s. The blocks call their sublayers by attribute, so every graph that uses
a block (plain and masked encoders, fusion, decoder) trains quantization-aware with nothing
cloned. Untouched, in float: token/position embeddings (the text input stays int32 token ids),
the towers' final LayerNorms and pooling, the log-mel frontend, attention softmax and the
score/value einsums, residual adds, and the decoder's `lm_head` (a layer of the decoder's graph,
not a sublayer; it is not part of the embedding models TFLite exports). TFLite's converter
takes the kernels' fake-quant ranges as their int8 scales; with a representative data set the
remaining activations are calibrated and the matmuls run in int8.

Activation ranges start from TFMOT's [-6, 6] and move by a 0.999 moving average, too slowly
for a short fine-tuning: `calibrate_ranges` sets them from a few batches first.
"""

from tensorflow_model_optimization.python.core.quantization.keras import (
    quant_ops,
    quantize_wrapper,
    quantizers,
)
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
    default_8bit_quantize_registry as registry,
)
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
    default_8bit_quantizers,
)

from mmlm.backend import keras, register
from mmlm.compression.cloning import copy_backbone, unique_layers

QuantizeWrapper = quantize_wrapper.QuantizeWrapperV2


@register
class RangeQuantizer(quantizers.MovingAverageQuantizer):
    """TFMOT's 8-bit activation quantizer (moving-average range), with a settable EMA decay.

    `calibrate_ranges` lowers `ema_decay` to average the ranges of a few batches, then puts it
    back; training uses TFMOT's 0.999.

    Args:
        num_bits, per_axis, symmetric, narrow_range: TFMOT's (8-bit, per-tensor, asymmetric,
            full range for activations).
        ema_decay: decay of the range moving averages in training.
    """

    def __init__(
        self, num_bits=8, per_axis=False, symmetric=False, narrow_range=False, ema_decay=0.999
    ):
        super().__init__(num_bits, per_axis, symmetric, narrow_range)
        self.ema_decay = ema_decay

    def __call__(self, inputs, training, weights, **kwargs):
        return quant_ops.MovingAvgQuantize(
            inputs,
            weights["min_var"],
            weights["max_var"],
            ema_decay=self.ema_decay,
            is_training=training,
            num_bits=self.num_bits,
            per_channel=self.per_axis,
            symmetric=self.symmetric,
            narrow_range=self.narrow_range,
        )

    def get_config(self):
        return {**super().get_config(), "ema_decay": self.ema_decay}


@register
class KernelQuantizeConfig(registry.Default8BitQuantizeConfig):
    """Dense / EinsumDense: TFMOT's 8-bit kernel quantizer, `RangeQuantizer` on the activation.

    Args:
        per_channel: per-output-channel kernel ranges (TFMOT's Conv2D choice) instead of one.
    """

    def __init__(self, per_channel=False):
        super().__init__(["kernel"], ["activation"], quantize_output=False)
        self.per_channel = per_channel
        if per_channel:
            self.weight_quantizer = default_8bit_quantizers.Default8BitConvWeightsQuantizer()
        self.activation_quantizer = RangeQuantizer()

    def range_quantizers(self):
        return [self.activation_quantizer]

    def get_config(self):
        return {"per_channel": self.per_channel}


@register
class OutputQuantizeConfig(registry.Default8BitQuantizeConfig):
    """Fake-quantizes only a layer's output (LayerNormalization), with a `RangeQuantizer`."""

    def __init__(self):
        super().__init__([], [], quantize_output=True)
        self.activation_quantizer = RangeQuantizer()

    def range_quantizers(self):
        return [self.activation_quantizer]

    def get_config(self):
        return {}


def _quantize_config(layer):
    """The config a sublayer gets, or None to leave it float."""
    if isinstance(layer, keras.layers.Conv2D):
        return KernelQuantizeConfig(per_channel=True)
    if isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense)):
        return KernelQuantizeConfig()
    if isinstance(layer, keras.layers.LayerNormalization):
        return OutputQuantizeConfig()
    return None


def quantize_sublayers(model):
    """Wraps, in place, the quantizable sublayers of every custom layer of `model`.

    Only attributes of non-model layers are replaced (a layer of a functional graph is a node of
    that graph and cannot be swapped in place). Running it twice wraps nothing more.

    Args:
        model: a model whose layers it may change (see `quantize_backbone` for a copy).
    Returns:
        The wrappers created.
    """
    created = {}  # id(sublayer) -> its wrapper: a sublayer under two names gets one
    parents = [layer for layer in unique_layers(model) if not isinstance(layer, keras.Model)]
    for parent in parents:
        if isinstance(parent, QuantizeWrapper):
            continue
        for name, child in list(vars(parent).items()):
            config = _quantize_config(child) if isinstance(child, keras.layers.Layer) else None
            if config is not None:
                if id(child) not in created:
                    created[id(child)] = QuantizeWrapper(child, config)
                setattr(parent, name, created[id(child)])
    return list(created.values())


def quantize_backbone(backbone):
    """A quantization-aware copy of a `MultimodalBackbone` (same class, same weights).

    Fine-tune it with `PretrainingTask` like any backbone (float32 policy: TFMOT's fake-quant ops
    are float32 only), after `calibrate_ranges`; export `copy.embedding_model(modality)`.
    It does not round-trip through `.keras` (the wrappers are not in the towers' configs): keep
    it in memory or save weights / a SavedModel.

    Args:
        backbone: a float `MultimodalBackbone` (left unchanged).
    Returns:
        The copy, with `QuantizeWrapperV2`s inside its blocks, patch embeddings and heads.
    """
    copy = copy_backbone(backbone)
    if not quantize_sublayers(copy):
        raise ValueError(f"{backbone.name} has no layer that quantization-aware training covers.")
    return copy


def quantize_wrappers(model):
    """The `QuantizeWrapperV2`s inside `model`."""
    return [layer for layer in unique_layers(model) if isinstance(layer, QuantizeWrapper)]


def calibrate_ranges(model, batches):
    """Sets every fake-quant range of a quantization-aware model from example inputs.

    Runs `model(inputs, training=True)` eagerly on each batch with the activation ranges'
    moving averages replaced by a plain mean over the batches (the first batch overwrites
    TFMOT's [-6, 6] start); kernel ranges follow the kernels in any training call. Call it
    before fine-tuning or exporting, with what the model is called on (backbone inputs for a
    backbone, a modality's inputs for an embedding model).

    Args:
        model: a model containing `QuantizeWrapperV2`s with `RangeQuantizer`s.
        batches: an iterable of model inputs.
    Returns:
        The number of batches used.
    """
    quantizers_ = [
        quantizer
        for wrapper in quantize_wrappers(model)
        for quantizer in getattr(wrapper.quantize_config, "range_quantizers", list)()
    ]
    decays = [quantizer.ema_decay for quantizer in quantizers_]
    count = 0
    try:
        for count, inputs in enumerate(batches, start=1):
            for quantizer in quantizers_:
                quantizer.ema_decay = (count - 1) / count  # running mean of the batch ranges
            model(inputs, training=True)
    finally:
        for quantizer, decay in zip(quantizers_, decays):
            quantizer.ema_decay = decay
    if count == 0:
        raise ValueError("calibrate_ranges needs at least one batch.")
    return count
