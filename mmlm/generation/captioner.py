"""Greedy captions of image and/or audio over a fixed-shape buffer (what TFLite converts)."""

from mmlm.backend import tf
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
