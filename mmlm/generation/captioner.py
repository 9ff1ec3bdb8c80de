"""Greedy captions of image and/or audio over a fixed-shape buffer (what TFLite converts)."""

from mmlm.backend import tf
from mmlm.generation.cached_decoder import CachedDecoder
from mmlm.generation.generator import conditioning_inputs
from mmlm.generation.greedy import greedy_decode


class GreedyCaptioner:
    """Captions rows from whatever of image and audio they have (the text is never seen).

    The fusion runs once per row; the loop reruns only the decoder over its fixed buffer (see
    `greedy_decode`): no cache to update in place, so it converts to TFLite with built-in ops.
    Elsewhere use the cached `Generator`, which is ~L times cheaper per token.

    Args:
        backbone: a `MultimodalBackbone` with text, a fusion encoder and a text decoder.
        max_length: token buffer length, start token included.
        start_id, end_id, pad_id: special token ids of the vocabulary.

    Call arguments:
        inputs: encoder inputs of the modalities given (`images`; `audio`,
            `audio_padding_mask`) and optional `image_present` / `audio_present` (B,) bool; a
            modality without encoder inputs is absent.

    Returns:
        int32 (B, max_length) token ids (start token first, padding after the end token).
    """

    def __init__(self, backbone, max_length, start_id, end_id, pad_id):
        if backbone.text_decoder is None or "text" not in backbone.modalities:
            raise ValueError("captioning needs a backbone with a text encoder and decoder")
        self.backbone = backbone
        self.conditioning_model = backbone.conditioning_model()
        self.max_length = max_length
        self.start_id, self.end_id, self.pad_id = start_id, end_id, pad_id

    def __call__(self, inputs):
        first = next(iter(inputs.values()))
        batch_size = tf.shape(first)[0]
        # The caption is the output: no text is given, so the text row is masked out.
        model_inputs = conditioning_inputs(self.backbone, inputs, batch_size, self.start_id)
        fused = self.conditioning_model(model_inputs, training=False)
        decoder = self.backbone.text_decoder

        def next_logits(token_ids):
            return decoder(
                {
                    "decoder_token_ids": token_ids,
                    "decoder_padding_mask": tf.ones_like(token_ids, tf.bool),
                    "encoder_sequence": fused["sequence_output"],
                    "encoder_padding_mask": fused["padding_mask"],
                },
                training=False,
            )["logits"]

        return greedy_decode(
            next_logits, batch_size, self.max_length, self.start_id, self.end_id, self.pad_id
        )


class StepCaptioner:
    """Greedy captioning split into a prefill and one cached decoder step per token.

    What an on-device runtime loops over (`OnDeviceModule`'s `caption_prefill` and
    `caption_step`): the fusion and the decoder's prefill run once and return the key/value
    cache; each step takes the previous token, its position and the cache, and returns the next
    token and the cache with that position written. The cache is explicit (inputs and outputs,
    fixed shapes, batch 1 on a device), so the graphs hold no state and no loop: TFLite runs
    them with built-in ops only, and each token costs one position instead of the whole buffer
    of `GreedyCaptioner`. The same steps as `Generator`'s cached greedy decoding.

    Args:
        backbone: a `MultimodalBackbone` with text, a fusion encoder and a text decoder.
        max_length: token buffer length (the self-attention cache), start token included.
        start_id: the start token id.
    """

    def __init__(self, backbone, max_length, start_id):
        if backbone.text_decoder is None or "text" not in backbone.modalities:
            raise ValueError("captioning needs a backbone with a text encoder and decoder")
        if not 2 <= max_length <= backbone.text_decoder.sequence_length:
            raise ValueError(
                f"max_length must be in [2, {backbone.text_decoder.sequence_length}], "
                f"got {max_length}"
            )
        self.backbone = backbone
        self.conditioning_model = backbone.conditioning_model()
        self.cached = CachedDecoder(backbone.text_decoder)
        self.num_layers = len(backbone.text_decoder.blocks)
        self.max_length, self.start_id = max_length, start_id

    def prefill(self, inputs):
        """Runs the fusion and the decoder's prefill on encoder inputs (as `GreedyCaptioner`'s).

        Returns:
            (the first generated token (B,) int32, the cache (see `CachedDecoder`), the
            `encoder_padding_mask` (B, Le) the steps need).
        """
        batch_size = tf.shape(next(iter(inputs.values())))[0]
        model_inputs = conditioning_inputs(self.backbone, inputs, batch_size, self.start_id)
        fused = self.conditioning_model(model_inputs, training=False)
        # Positions after the start token hold it too: causal attention never reads them
        # before a step has written its own keys and values there.
        buffer = tf.fill([batch_size, self.max_length], tf.constant(self.start_id, tf.int32))
        logits, cache = self.cached.prefill(buffer, fused["sequence_output"], fused["padding_mask"])
        token = tf.cast(tf.argmax(logits[:, 0], axis=-1), tf.int32)  # (B,): predicts position 1
        return token, cache, fused["padding_mask"]

    def step(self, token, index, cache, encoder_padding_mask):
        """The token after `token` (B,) int32 at position `index` (a scalar), and the cache.

        Returns:
            (next token (B,) int32, logits (B, V) float32, the cache with `index` written).
        """
        token = tf.convert_to_tensor(token, tf.int32)
        logits, cache = self.cached.step(token[:, None], index, cache, encoder_padding_mask)
        logits = logits[:, 0]
        return tf.cast(tf.argmax(logits, axis=-1), tf.int32), logits, cache
