"""The on-device (TFLite) signatures: fixed shapes, batch 1, built-in ops only.

TFLite's built-in ops cannot tokenize strings or decode files, so on-device inputs are the
preprocessed arrays (`mmlm tflite-run` does that part with the same preprocessing layers):

- `embed_text`: `token_ids` int32 (1, L) packed `[START] … [END] [PAD]…` → `embedding`;
- `embed_image`: `images` float32 (1, S, S, 3) in [0, 1] → `embedding`;
- `embed_audio`: `audio` float32 (1, N) at the model's rate, zero-padded, and `audio_length`
  int32 (1,) real samples → `embedding` (the log-mel frontend runs in the model);
- `caption`: `images`, `audio`, `audio_length`, `image_present` and `audio_present` (1,) bool
  → `token_ids` int32 (1, C), greedy (a WHILE loop in the flatbuffer);
- `caption_prefill` (the same inputs) → `token` int32 (1,), the first generated token, the
  key/value cache (`self_key_I`, `self_value_I` (1, C, heads, head_dim) and `cross_key_I`,
  `cross_value_I` (1, Le, heads, head_dim) per decoder block I) and `encoder_padding_mask`;
  `caption_step`: `token` (1,) at `index` (1,) int32 with the cache and the mask → the next
  `token`, its `logits` (1, V) and the self-attention cache with `index` written. The device
  loops (`mmlm.serving.step_decoding.greedy_steps`): one decoder position per token.
"""

from mmlm.backend import tf
from mmlm.generation import GreedyCaptioner, StepCaptioner

CACHE_KINDS = ("self_key", "self_value", "cross_key", "cross_value")
CAPTION_SIGNATURES = ("caption", "caption_prefill", "caption_step")


class OnDeviceModule(tf.Module):
    """A backbone's embedding (and caption) functions with the fixed shapes of a device.

    Args:
        backbone: a float32 `MultimodalBackbone` (pruned and stripped, or not).
        text_length: packed text length L.
        pad_id: padding token id (the padding mask is `token_ids != pad_id`).
        caption: None, or the `GreedyCaptioner` arguments (`max_length`, `start_id`,
            `end_id`, `pad_id`) to add the caption signatures.
        embedding_models: modality → embedding model to use instead of the backbone's (e.g.
            quantization-aware ones).
    """

    def __init__(self, backbone, text_length, pad_id, caption=None, embedding_models=None):
        super().__init__(name="on_device")
        self.backbone = backbone
        self.modalities = tuple(backbone.modalities)
        self.text_length = text_length
        self.pad_id = pad_id
        embedding_models = dict(embedding_models or {})
        for m in self.modalities:
            embedding_models.setdefault(m, backbone.embedding_model(m))
        self.embedding_models = embedding_models
        self.captioner = GreedyCaptioner(backbone, **caption) if caption else None
        self.step_captioner = None
        if caption:
            self.step_captioner = StepCaptioner(
                backbone, caption["max_length"], caption["start_id"]
            )

    def _shape(self, modality, name):
        return [1] + list(self.backbone.encoders[modality].input[name].shape[1:])

    def text(self, token_ids):
        inputs = {"token_ids": token_ids, "padding_mask": token_ids != self.pad_id}
        return {"embedding": self.embedding_models["text"](inputs, training=False)}

    def image(self, images):
        return {"embedding": self.embedding_models["image"]({"images": images}, training=False)}

    def _audio_inputs(self, audio, audio_length):
        num_samples = audio.shape[1]
        return {"audio": audio, "audio_padding_mask": length_mask(audio_length, num_samples)}

    def audio(self, audio, audio_length):
        inputs = self._audio_inputs(audio, audio_length)
        return {"embedding": self.embedding_models["audio"](inputs, training=False)}

    def caption(self, images, audio, audio_length, image_present, audio_present):
        inputs = self._caption_inputs(images, audio, audio_length, image_present, audio_present)
        return {"token_ids": self.captioner(inputs)}

    def _caption_inputs(self, images, audio, audio_length, image_present, audio_present):
        inputs = {"images": images, "image_present": image_present}
        inputs.update(self._audio_inputs(audio, audio_length))
        inputs["audio_present"] = audio_present
        return inputs

    def caption_prefill(self, images, audio, audio_length, image_present, audio_present):
        inputs = self._caption_inputs(images, audio, audio_length, image_present, audio_present)
        token, cache, padding_mask = self.step_captioner.prefill(inputs)
        outputs = {"token": token, "encoder_padding_mask": padding_mask}
        for kind in CACHE_KINDS:
            outputs.update({f"{kind}_{i}": t for i, t in enumerate(cache[kind])})
        return outputs

    def caption_step(self, token, index, encoder_padding_mask, **cache):
        layers = range(self.step_captioner.num_layers)
        cache = {kind: tuple(cache[f"{kind}_{i}"] for i in layers) for kind in CACHE_KINDS}
        token, logits, cache = self.step_captioner.step(
            token, index[0], cache, encoder_padding_mask
        )
        outputs = {"token": token, "logits": logits}
        for kind in ("self_key", "self_value"):
            outputs.update({f"{kind}_{i}": t for i, t in enumerate(cache[kind])})
        return outputs

    def _step_specs(self, prefill_specs):
        """`caption_step` input specs: the shapes `caption_prefill` returns."""
        outputs = tf.function(self.caption_prefill).get_concrete_function(**prefill_specs)
        shapes = tf.nest.map_structure(
            lambda t: (t.shape.as_list(), t.dtype), outputs.structured_outputs
        )
        shapes.pop("token")
        return {"token": ([1], tf.int32), "index": ([1], tf.int32), **shapes}

    def specs(self):
        """Signature name → input specs (name → `tf.TensorSpec`)."""
        specs = {}
        if "text" in self.modalities:
            specs["embed_text"] = {"token_ids": ([1, self.text_length], tf.int32)}
        if "image" in self.modalities:
            specs["embed_image"] = {"images": (self._shape("image", "images"), tf.float32)}
        if "audio" in self.modalities:
            specs["embed_audio"] = {
                "audio": (self._shape("audio", "audio"), tf.float32),
                "audio_length": ([1], tf.int32),
            }
        if self.captioner is not None and {"image", "audio"} <= set(self.modalities):
            specs["caption"] = {
                **specs["embed_image"],
                **specs["embed_audio"],
                "image_present": ([1], tf.bool),
                "audio_present": ([1], tf.bool),
            }
            specs["caption_prefill"] = specs["caption"]
            prefill = {
                n: tf.TensorSpec(shape, dtype, name=n)
                for n, (shape, dtype) in specs["caption"].items()
            }
            specs["caption_step"] = self._step_specs(prefill)
        return {
            signature: {n: tf.TensorSpec(shape, dtype, name=n) for n, (shape, dtype) in s.items()}
            for signature, s in specs.items()
        }

    def signatures(self, names=None):
        """Signature name → concrete function (all of `specs()`, or only `names`)."""
        methods = {
            "embed_text": self.text,
            "embed_image": self.image,
            "embed_audio": self.audio,
            "caption": self.caption,
            "caption_prefill": self.caption_prefill,
            "caption_step": self.caption_step,
        }
        return {
            name: tf.function(methods[name]).get_concrete_function(**specs)
            for name, specs in self.specs().items()
            if names is None or name in names
        }


def length_mask(lengths, size, row=512):
    """(B, size) bool, True before each row's length — without a (size,) constant.

    `tf.range(size) < lengths` would be constant-folded into a `size`-long int32 buffer in the
    flatbuffer (448 kB for 7 s of 16 kHz audio, a quarter of the int8 model); positions are
    instead `row * i + j`, compared in two small pieces against the runtime lengths.
    """
    rows = -(-size // row)
    row_starts = tf.range(rows, dtype=lengths.dtype) * row  # (R,)
    remaining = lengths[:, None] - row_starts[None, :]  # (B, R)
    mask = tf.range(row, dtype=lengths.dtype)[None, None, :] < remaining[:, :, None]  # (B, R, row)
    return tf.reshape(mask, [-1, rows * row])[:, :size]
