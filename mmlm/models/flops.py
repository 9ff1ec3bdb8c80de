"""Analytic FLOPs and parameter counts of the multimodal backbone and of a pretraining step.

What is counted (a multiply-add is 2 FLOPs, per example):

- every matmul: the attention projections (query, key, value, output), the attention scores
  (Q·Kᵀ) and the attention-weighted values, the feed-forward layers, the patch embedding
  (a strided conv: one matmul per patch, after the 3x3 convs of a convolutional stem, counted
  at every output position, zero-padded borders included), the projection heads, the
  decoder's LM head, the task heads;
- attention at full length: the scores of a causal or padded sequence are computed for every
  pair of positions (nothing is skipped), so they are counted in full;
- the log-mel frontend: the DFT matmul, or the real FFT estimated as 2.5·N·log₂N per frame
  (half the usual 5·N·log₂N of a complex FFT), plus the mel filterbank product (a multiply
  and an add for each nonzero filter weight: it is computed sparsely, not as a matmul).

What is ignored: softmax, layer norms, GELU, biases, residual adds, dropout, embedding lookups,
masking, pooling, the losses (the contrastive logits are B×B per pair: per example that is
2·B·embedding_dim FLOPs, next to nothing) and the optimizer update. These are a few percent of
the matmul FLOPs at these sizes, but they are memory-bound and can take a larger share of the
time.

A training step costs 3× the forward FLOPs of every pass it runs (the forward pass, then the
gradients with respect to the activations and to the weights, each as expensive as the
forward matmuls): the usual convention of model FLOPs utilization (MFU). The log-mel frontend
is the exception and counts once: it has no weights and its input is data, so nothing is
back-propagated through it.
"""

import math

from mmlm.backend import keras_nlp
from mmlm.models.audio_encoder import AudioSpectrogramEncoder
from mmlm.models.vit_encoder import ViTEncoder

# Backward = 2 × forward (activation gradients + weight gradients).
TRAINING_FACTOR = 3.0

# Components without weights to differentiate: counted once per training step.
_FORWARD_ONLY = ("audio_frontend",)

# The modality whose encoder feeds each pretraining head.
_HEAD_MODALITY = {"masked_lm": "text", "masked_image": "image", "masked_audio": "audio"}


def dense_flops(tokens, input_dim, output_dim):
    """A (tokens, input_dim) × (input_dim, output_dim) matmul."""
    return 2.0 * tokens * input_dim * output_dim


def attention_flops(query_length, context_length, hidden_dim, num_heads):
    """Multi-head attention of `query_length` queries over `context_length` keys.

    keras-nlp's attention heads are `hidden_dim // num_heads` wide, so the projected width is
    `num_heads * (hidden_dim // num_heads)` (`hidden_dim` when it divides).
    """
    width = num_heads * (hidden_dim // num_heads)
    projections = dense_flops(query_length, hidden_dim, width)  # query
    projections += 2 * dense_flops(context_length, hidden_dim, width)  # key, value
    projections += dense_flops(query_length, width, hidden_dim)  # output
    scores_and_values = 2 * dense_flops(query_length, width, context_length)
    return projections + scores_and_values


def feedforward_flops(length, hidden_dim, intermediate_dim):
    return dense_flops(length, hidden_dim, intermediate_dim) + dense_flops(
        length, intermediate_dim, hidden_dim
    )


def encoder_layer_flops(length, hidden_dim, num_heads, intermediate_dim):
    """One Transformer encoder block: self-attention + feed-forward over `length` tokens."""
    return attention_flops(length, length, hidden_dim, num_heads) + feedforward_flops(
        length, hidden_dim, intermediate_dim
    )


def decoder_layer_flops(length, context_length, hidden_dim, num_heads, intermediate_dim):
    """One decoder (or fusion) block: self-attention, cross-attention, feed-forward."""
    return (
        attention_flops(length, length, hidden_dim, num_heads)
        + attention_flops(length, context_length, hidden_dim, num_heads)
        + feedforward_flops(length, hidden_dim, intermediate_dim)
    )


def patch_embedding_flops(num_patches, patch_size, channels, hidden_dim, stem_channels=()):
    """`PatchEmbedding`: its stem's 3x3 stride-2 convs, then one matmul a patch.

    Stem conv k has (p / 2^(k+1))² outputs per patch, each a (3·3·channels_in → channels_k)
    matmul; the projection is a (q·q·channels_last → hidden_dim) matmul, q = p / 2^len(stem).
    """
    flops, side = 0.0, patch_size
    for out_channels in stem_channels:
        side //= 2
        flops += dense_flops(num_patches * side * side, 9 * channels, out_channels)
        channels = out_channels
    return flops + dense_flops(num_patches, side * side * channels, hidden_dim)


def log_mel_flops(log_mel_spectrogram, num_samples):
    """`LogMelSpectrogram` on `num_samples` samples: DFT (matmul or real FFT) + mel product."""
    layer = log_mel_spectrogram
    frames = layer.num_frames(num_samples)
    n, bins = layer.fft_length, layer.fft_length // 2 + 1
    if layer.fft_length & (layer.fft_length - 1) == 0:  # `tf.signal.rfft`
        spectrum = frames * 2.5 * n * math.log2(n)
    else:  # a matmul with the windowed [cos | -sin] basis
        spectrum = dense_flops(frames, n, 2 * bins)
    return spectrum + mel_projection_flops(layer, num_samples)


def mel_projection_flops(log_mel_spectrogram, num_samples):
    """The sparse mel filterbank product: a multiply-add per nonzero weight and frame."""
    layer = log_mel_spectrogram
    return 2.0 * layer.num_frames(num_samples) * layer.num_nonzero_mel_weights


def sequence_length(encoder, text_length=None):
    """Tokens an encoder hands to the fusion (class token included, if any)."""
    if isinstance(encoder, (ViTEncoder, AudioSpectrogramEncoder)):
        return encoder.num_patches + (encoder.pooling == "class_token")
    return encoder.sequence_length if text_length is None else text_length


def _stack_flops(encoder, length):
    return encoder.num_layers * encoder_layer_flops(
        length, encoder.hidden_dim, encoder.num_heads, encoder.intermediate_dim
    )


def encoder_flops(encoder, text_length=None):
    """Forward FLOPs of one encoder tower ({component: FLOPs}; the audio one has two parts).

    The audio tower's log-mel frontend is its own component, `audio_frontend`.
    """
    length = sequence_length(encoder, text_length)
    flops = _stack_flops(encoder, length)
    if isinstance(encoder, ViTEncoder):
        flops += patch_embedding_flops(
            encoder.num_patches, encoder.patch_size, 3, encoder.hidden_dim, encoder.stem_channels
        )
        return {"image_encoder": flops}
    if isinstance(encoder, AudioSpectrogramEncoder):
        flops += patch_embedding_flops(
            encoder.num_patches, encoder.patch_size, 1, encoder.hidden_dim
        )
        frontend = log_mel_flops(encoder.frontend.log_mel_spectrogram, encoder.num_samples)
        return {"audio_frontend": frontend, "audio_encoder": flops}
    return {"text_encoder": flops}


def fusion_flops(fusion_encoder, lengths):
    """`CrossModalFusionEncoder` over sequences of `lengths` ({modality: tokens})."""
    f = fusion_encoder
    if len(f.modalities) < 2:
        return 0.0
    total = sum(lengths[m] for m in f.modalities)
    per_layer = sum(
        # Each modality attends to the others plus the null token.
        decoder_layer_flops(
            lengths[m], 1 + total - lengths[m], f.hidden_dim, f.num_heads, f.intermediate_dim
        )
        for m in f.modalities
    )
    return f.num_layers * per_layer


def decoder_flops(text_decoder, decoder_length, context_length):
    """`TextDecoder` blocks + LM head over `decoder_length` tokens."""
    d = text_decoder
    blocks = d.num_layers * decoder_layer_flops(
        decoder_length, context_length, d.hidden_dim, d.num_heads, d.intermediate_dim
    )
    return blocks + dense_flops(decoder_length, d.hidden_dim, d.vocabulary_size)


def backbone_flops(backbone, text_length=None, decoder_length=None, hidden=(), decoded_share=1.0):
    """Forward FLOPs per example of a `MultimodalBackbone`, per component.

    Args:
        backbone: a built `MultimodalBackbone`.
        text_length: text tokens per example (default: the text encoder's `sequence_length`).
        decoder_length: decoder tokens per example (default: `text_length - 1`, the caption
            shifted by one as in pretraining).
        hidden, decoded_share: as in `MultimodalBackbone.encode_and_decode`: modalities left
            out of the fusion, and the share of the examples that the fusion and the decoder
            run on (0: they do not run).
    Returns:
        {component: FLOPs} with keys among `text_encoder`, `image_encoder`, `audio_frontend`,
        `audio_encoder`, `projection_heads`, `fusion_encoder`, `text_decoder` (LM head
        included), and `total`.
    """
    flops, lengths = {}, {}
    for modality, encoder in backbone.encoders.items():
        flops.update(encoder_flops(encoder, text_length))
        lengths[modality] = sequence_length(encoder, text_length)
    flops["projection_heads"] = sum(
        dense_flops(1, encoder.hidden_dim, backbone.embedding_dim)
        for encoder in backbone.encoders.values()
    )
    lengths_fused = {m: 0 if m in hidden else length for m, length in lengths.items()}
    if backbone.fusion_encoder is not None and decoded_share:
        fusion = fusion_flops(backbone.fusion_encoder, lengths_fused)
        flops["fusion_encoder"] = decoded_share * fusion
    if backbone.text_decoder is not None and decoded_share:
        if decoder_length is None:
            decoder_length = (text_length or backbone.text_decoder.sequence_length) - 1
        context = 1 + sum(lengths_fused[m] for m in backbone.fusion_encoder.modalities)
        decoder = decoder_flops(backbone.text_decoder, decoder_length, context)
        flops["text_decoder"] = decoded_share * decoder
    flops["total"] = sum(flops.values())
    return flops


def _masked_lm_head_flops(head, hidden_dim, selections):
    # keras-nlp's MaskedLMHead: gather → Dense(hidden) → LayerNorm → (hidden × vocabulary).
    return dense_flops(selections, hidden_dim, hidden_dim) + dense_flops(
        selections, hidden_dim, head.vocabulary_size
    )


def pretraining_passes(task, text_length=None, mask_selections=8):
    """Forward FLOPs per example of every pass a `PretrainingTask` step runs.

    Args:
        task: a `PretrainingTask`.
        text_length: text tokens per example (default: the text encoder's `sequence_length`).
        mask_selections: masked-LM positions per example (`ObjectiveConfig.mlm_max_selections`,
            the width of the `mask_positions` batches).
    Returns:
        {pass: {component: FLOPs}}: `backbone` (when the contrastive or captioning term is
        active: the encoders and heads, and for captioning the fusion without the caption's
        text and the decoder, on the task's `captioning_batch_fraction` of the examples),
        `masked_lm`, `masked_image`, `masked_audio` (the masked encoder pass and its head), for
        the active loss terms.
    """
    backbone, weights = task.backbone, task.loss_weights
    passes = {}
    if "contrastive" in weights or "captioning" in weights:
        share = task.captioning_batch_fraction if "captioning" in weights else 0.0
        counted = backbone_flops(backbone, text_length, hidden=("text",), decoded_share=share)
        passes["backbone"] = {k: v for k, v in counted.items() if k != "total"}
    if "masked_lm" in weights:
        encoder = backbone.text_encoder
        passes["masked_lm"] = {
            **encoder_flops(encoder, text_length),
            "masked_lm_head": _masked_lm_head_flops(
                task.heads["masked_lm"], encoder.hidden_dim, mask_selections
            ),
        }
    for modality in ("image", "audio"):
        if f"masked_{modality}" in weights:
            encoder = backbone.encoders[modality]
            head = task.heads[f"masked_{modality}"]
            passes[f"masked_{modality}"] = {
                **encoder_flops(encoder),
                f"masked_{modality}_head": dense_flops(
                    encoder.num_patches, encoder.hidden_dim, head.units
                ),
            }
    return passes


def pretraining_flops(task, text_length=None, mask_selections=8):
    """FLOPs of one training example of a `PretrainingTask` (forward + backward, all passes).

    Args: those of `pretraining_passes`.
    Returns:
        {component: training FLOPs summed over the passes that run it} (3 × forward, the
        frontend 1×), plus `forward` (the forward FLOPs of all passes) and `total`.
    """
    flops, forward = {}, 0.0
    for components in pretraining_passes(task, text_length, mask_selections).values():
        for name, value in components.items():
            factor = 1.0 if name in _FORWARD_ONLY else TRAINING_FACTOR
            flops[name] = flops.get(name, 0.0) + factor * value
            forward += value
    flops["forward"] = forward
    flops["total"] = sum(v for k, v in flops.items() if k != "forward")
    return flops


def _count(weights):
    unique = {id(w): w for w in weights}
    return int(sum(math.prod(w.shape) for w in unique.values()))


def parameter_counts(backbone):
    """Weights per tower of a `MultimodalBackbone` (trainable or not), plus `total`."""
    counts = {f"{m}_encoder": _count(e.weights) for m, e in backbone.encoders.items()}
    counts["projection_heads"] = _count(
        [w for head in backbone.projection_heads.values() for w in head.weights]
    )
    for name in ("fusion_encoder", "text_decoder"):
        part = getattr(backbone, name)
        if part is not None:
            counts[name] = _count(part.weights)
    counts["total"] = _count(backbone.weights)
    return counts


def head_parameter_counts(task):
    """Weights of a `PretrainingTask`'s heads ({`<term>_head`: count}), built or not.

    The heads are built on their first call; before that their sizes follow from the backbone.
    """
    counts = {}
    for term, head in task.heads.items():
        if head.built:
            counts[f"{term}_head"] = _count(head.weights)
            continue
        hidden = task.backbone.encoders[_HEAD_MODALITY[term]].hidden_dim
        if isinstance(head, keras_nlp.layers.MaskedLMHead):
            # Dense (hidden → hidden) + LayerNorm + output kernel and bias (hidden → vocabulary).
            vocabulary = head.vocabulary_size
            counts[f"{term}_head"] = hidden * hidden + 3 * hidden + (hidden + 1) * vocabulary
        else:
            counts[f"{term}_head"] = (hidden + 1) * head.units
    return counts
