"""Greedy captions of image and/or audio with a backbone's fusion and decoder."""

from mmlm.backend import tf
from mmlm.generation.greedy import greedy_decode


class GreedyCaptioner:
    """Captions rows from whatever of image and audio they have (the text is never seen).

    The fusion runs once per row; the loop runs only the decoder (see `greedy_decode`).
    Graph-friendly: use it inside `tf.function`s, SavedModel signatures and TFLite conversion.

    Args:
        backbone: a `MultimodalBackbone` with text, a fusion encoder and a text decoder.
        max_length: token buffer length, start token included.
        start_id, end_id, pad_id: special token ids of the vocabulary.

    Call arguments:
        inputs: encoder inputs of the modalities given (`images`; `audio`,
            `audio_padding_mask`) and `image_present` / `audio_present` (B,) bool for each
            modality of the backbone; a modality without encoder inputs is absent.

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
        model_inputs = {
            # The caption is the output: the text row is masked out of the fusion.
            "token_ids": tf.fill([batch_size, 1], tf.constant(self.start_id, tf.int32)),
            "padding_mask": tf.ones([batch_size, 1], tf.bool),
            "text_present": tf.zeros([batch_size], tf.bool),
        }
        for m in self.backbone.modalities:
            if m == "text":
                continue
            encoder = self.backbone.encoders[m]
            for name in encoder.input:
                model_inputs[name] = inputs.get(
                    name, _zeros_like_input(encoder.input[name], batch_size)
                )
            model_inputs[f"{m}_present"] = inputs.get(
                f"{m}_present", tf.zeros([batch_size], tf.bool)
            )
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


def _zeros_like_input(tensor, batch_size):
    """Zeros (False for masks) shaped like one batch of a model input with fixed dims."""
    shape = tensor.shape[1:]
    if None in shape:
        raise ValueError(f"input {tensor.name} has an unknown dimension {shape}")
    return tf.zeros(tf.concat([[batch_size], list(shape)], axis=0), tensor.dtype)
