"""Text generation from any subset of text, image and audio, with a key/value-cached decoder.

The fusion runs once per input; then each new token is one cached decoder step
(`CachedDecoder`). Greedy, temperature, top-k and top-p decoding use keras-nlp's samplers; beam
search is `beam_search` (length penalty, finished hypotheses, early stop). Everything is TF ops
in `tf.while_loop`s, so a `Generator` works inside `tf.function`s and SavedModel signatures.
"""

from mmlm.backend import keras_nlp, tf
from mmlm.generation.beam_search import beam_search
from mmlm.generation.cached_decoder import CachedDecoder

STRATEGIES = ("greedy", "temperature", "top_k", "top_p", "beam")


def conditioning_inputs(backbone, inputs, batch_size, start_id):
    """The backbone's `conditioning_model` inputs for rows with whatever `inputs` holds.

    A modality whose encoder inputs are missing from `inputs` is absent (zeros, `{m}_present`
    False); one whose inputs are given is present unless `{m}_present` says otherwise.
    """
    model_inputs = {}
    for m in backbone.modalities:
        encoder = backbone.encoders[m]
        given = all(name in inputs for name in encoder.input)
        for name in encoder.input:
            if given:
                model_inputs[name] = inputs[name]
            elif m == "text":
                # One start token: the masked-out text row must still be a valid sequence.
                fill = start_id if name == "token_ids" else True
                model_inputs[name] = tf.fill([batch_size, 1], tf.constant(fill))
            else:
                model_inputs[name] = _zeros_like_input(encoder.input[name], batch_size)
        default = tf.fill([batch_size], tf.constant(given))
        model_inputs[f"{m}_present"] = inputs.get(f"{m}_present", default)
    return model_inputs


class Generator:
    """Generates text conditioned on text, image and/or audio with a backbone's decoder.

    Args:
        backbone: a `MultimodalBackbone` with a fusion encoder and a text decoder.
        max_length: token buffer length (start token and prompt included; ≤ the decoder's
            `sequence_length`).
        start_id, end_id, pad_id: special token ids.
        strategy: one of `STRATEGIES`.
        temperature: softmax temperature of the sampling strategies.
        top_k: k of "top_k".
        top_p: p of "top_p".
        num_beams, length_penalty: of "beam" (see `beam_search`).
        seed: seed of the sampling strategies (the same seed gives the same samples).
        use_cache: False re-runs the decoder over the whole prefix per token (the reference
            the cached path is tested and benchmarked against).

    Call arguments:
        inputs: encoder inputs of the conditioning modalities given (`token_ids`,
            `padding_mask`; `images`; `audio`, `audio_padding_mask`) and optional
            `{m}_present` (B,) bool; missing modalities are absent. Empty (`{}`) with a
            prompt: the decoder continues the prompt unconditioned (a text-only language
            model's prompt continuation).
        prompt_ids: optional (B, P) int32 decoder prefix, start token first (a
            `TextPreprocessor`'s output); generation continues after `prompt_lengths` tokens.
        prompt_lengths: (B,) int32 prompt tokens per row, start token included (default 1).

    Returns:
        A dict: `token_ids` (B, max_length) int32 (the prompt, the generated tokens up to and
        including the end token, then `pad_id`) and, for beam search, `scores` (B,).
    """

    def __init__(
        self,
        backbone,
        max_length,
        start_id,
        end_id,
        pad_id,
        strategy="greedy",
        temperature=1.0,
        top_k=10,
        top_p=0.9,
        num_beams=4,
        length_penalty=0.6,
        seed=None,
        use_cache=True,
    ):
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        decoder = backbone.text_decoder
        if decoder is None or backbone.fusion_encoder is None:
            raise ValueError("generation needs a backbone with a fusion encoder and a decoder")
        if not 2 <= max_length <= decoder.sequence_length:
            raise ValueError(
                f"max_length must be in [2, {decoder.sequence_length}] (the decoder's "
                f"sequence_length), got {max_length}"
            )
        self.backbone = backbone
        self.conditioning_model = backbone.conditioning_model()
        self.decoder = decoder
        self.cached = CachedDecoder(decoder)
        self.max_length = max_length
        self.start_id, self.end_id, self.pad_id = start_id, end_id, pad_id
        self.strategy = strategy
        self.num_beams, self.length_penalty = num_beams, length_penalty
        self.use_cache = use_cache
        samplers = keras_nlp.samplers
        self.sampler = {
            "greedy": lambda: samplers.GreedySampler(),
            "temperature": lambda: samplers.RandomSampler(seed=seed, temperature=temperature),
            "top_k": lambda: samplers.TopKSampler(k=top_k, seed=seed, temperature=temperature),
            "top_p": lambda: samplers.TopPSampler(p=top_p, seed=seed, temperature=temperature),
            "beam": lambda: None,
        }[strategy]()

    def __call__(self, inputs, prompt_ids=None, prompt_lengths=None):
        if not inputs and prompt_ids is None:
            raise ValueError("generation needs conditioning inputs or a prompt (or both)")
        batch_size = tf.shape(next(iter(inputs.values())) if inputs else prompt_ids)[0]
        fused = self.conditioning_model(
            conditioning_inputs(self.backbone, inputs, batch_size, self.start_id), training=False
        )
        buffer, mask, lengths = self._buffer(batch_size, prompt_ids, prompt_lengths)
        next_logits, cache = self._step_function(buffer, fused)
        index = tf.reduce_min(lengths)
        if self.strategy == "beam":
            token_ids, scores = beam_search(
                next_logits,
                buffer,
                cache,
                index,
                mask,
                self.end_id,
                self.num_beams,
                self.length_penalty,
            )
            return {"token_ids": self._pad_after_end(token_ids, lengths), "scores": scores}
        token_ids = self.sampler(
            lambda p, c, i: _swap(next_logits(p, c, i)),
            buffer,
            cache=cache,
            index=index,
            mask=mask,
            stop_token_ids=(self.end_id,),
        )
        return {"token_ids": self._pad_after_end(token_ids, lengths)}

    def _buffer(self, batch_size, prompt_ids, prompt_lengths):
        """(B, max_length) ids with the prompt in front, its mask, and its lengths."""
        positions = tf.range(self.max_length)[None, :]
        pad = tf.fill([batch_size, self.max_length], tf.constant(self.pad_id, tf.int32))
        if prompt_ids is None:
            lengths = tf.ones([batch_size], tf.int32)
            buffer = tf.where(positions == 0, tf.constant(self.start_id, tf.int32), pad)
        else:
            lengths = tf.cast(prompt_lengths, tf.int32)
            tf.debugging.assert_less(
                lengths, self.max_length, message="a prompt leaves no room to generate"
            )
            prompt = tf.cast(prompt_ids, tf.int32)[:, : self.max_length]
            prompt = tf.pad(prompt, [[0, 0], [0, self.max_length - tf.shape(prompt)[1]]])
            buffer = tf.where(positions < lengths[:, None], prompt, pad)
        return buffer, positions < lengths[:, None], lengths

    def _step_function(self, buffer, fused):
        """`(prompt, cache, index) -> (logits of position index, cache)` and the first cache."""
        sequence, padding_mask = fused["sequence_output"], fused["padding_mask"]

        if self.use_cache:
            _, cache = self.cached.prefill(buffer, sequence, padding_mask)
            static = {key: cache.pop(key) for key in ("cross_key", "cross_value")}
            if self.strategy == "beam":  # read-only: repeated per beam once, outside the loop
                static = tf.nest.map_structure(
                    lambda t: tf.repeat(t, self.num_beams, axis=0), static
                )
                padding_mask = tf.repeat(padding_mask, self.num_beams, axis=0)

            def next_logits(prompt, cache, index):
                # (B, 1) of static length (a `index - 1 : index` slice would not be; see
                # `CachedDecoder.step`): predicts position `index`.
                previous = prompt[:, index - 1][:, None]
                logits, cache = self.cached.step(
                    previous, index - 1, {**cache, **static}, padding_mask
                )
                return logits[:, 0], {key: cache[key] for key in ("self_key", "self_value")}

            return next_logits, cache

        beams = self.num_beams if self.strategy == "beam" else 1
        sequence = tf.repeat(sequence, beams, axis=0)
        padding_mask = tf.repeat(padding_mask, beams, axis=0)

        def rerun(prompt, cache, index):
            prefix = prompt[:, :index]  # (B, index): the whole prefix, every step
            logits = self.decoder(
                {
                    "decoder_token_ids": prefix,
                    "decoder_padding_mask": tf.ones_like(prefix, tf.bool),
                    "encoder_sequence": sequence,
                    "encoder_padding_mask": padding_mask,
                },
                training=False,
            )["logits"]
            return logits[:, -1], cache

        return rerun, ()

    def _pad_after_end(self, token_ids, lengths):
        """Replaces everything after the first generated end token by `pad_id`."""
        positions = tf.range(tf.shape(token_ids)[1])[None, :]
        generated_end = tf.logical_and(
            tf.equal(token_ids, self.end_id), positions >= lengths[:, None]
        )
        after = tf.cumsum(tf.cast(generated_end, tf.int32), axis=1, exclusive=True) > 0
        return tf.where(after, tf.constant(self.pad_id, tf.int32), token_ids)


def _swap(logits_and_cache):
    """(logits, cache) → keras-nlp's `next` result (logits, hidden_states, cache)."""
    logits, cache = logits_and_cache
    return logits, None, cache


def _zeros_like_input(tensor, batch_size):
    """Zeros (False for masks) shaped like one batch of a model input with fixed dims."""
    shape = tensor.shape[1:]
    if None in shape:
        raise ValueError(f"input {tensor.name} has an unknown dimension {shape}")
    return tf.zeros(tf.concat([[batch_size], list(shape)], axis=0), tensor.dtype)
