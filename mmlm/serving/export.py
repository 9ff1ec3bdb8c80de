"""SavedModel export: signatures that take raw inputs (strings, image/audio arrays or bytes).

Tokenization, image resizing, audio cropping/padding, the log-mel frontend and caption decoding
(greedy and beam search, key/value-cached `tf.while_loop`s) all run inside the graph, so a
client needs only TensorFlow (and TensorFlow Text's ops for the WordPiece tokenizer): neither
mmlm nor Python per token. Inputs past the export's limits (image pixels, WAV length, text
bytes) fail with an `InvalidArgumentError` naming the limit, checked before decoding.
"""

import numpy as np

from mmlm.backend import tf
from mmlm.config.data import DEFAULT_MAX_AUDIO_SECONDS, DEFAULT_MAX_PIXELS, DEFAULT_MAX_TEXT_BYTES
from mmlm.generation import Generator
from mmlm.serving.image_decoding import decode_image
from mmlm.serving.text_continuation import (
    add_continuation_signatures,
    continuation_generators,
    sampler_variables,
)
from mmlm.serving.text_limits import limit_text
from mmlm.serving.warmup import write_warmup_requests

# Signature name → what it does; the README and `mmlm serve`'s metadata rely on these names.
SIGNATURES = {
    "embed_text": "text string (B,) → embedding (B, D)",
    "embed_image": "images uint8 (B, H, W, 3), any H and W → embedding",
    "embed_image_float": "images float32 (B, H, W, 3) in [0, 1] → embedding",
    "embed_image_bytes": "image_bytes string (B,) PNG/JPEG/BMP files → embedding",
    "embed_audio": "audio float32 (B, N) waveform at the model's sample rate → embedding",
    "embed_audio_wav": "audio_wav string (B,) WAV files at the model's sample rate → embedding",
    "caption": "images, audio, image_present, audio_present → text (B,), token_ids (B, L)",
    "caption_beam": "as caption, by beam search → text, token_ids, scores (B,)",
    "caption_image": "images uint8 (B, H, W, 3) → text, token_ids",
    "caption_audio": "audio float32 (B, N) → text, token_ids",
    "generate_from_text": "text string (B,) → text, token_ids (translation; greedy)",
    "generate": "text, images, audio, image_present, audio_present → text, token_ids (greedy)",
    "generate_beam": "as generate, by beam search → text, token_ids, scores",
    "continue": "prompt string (B,) → text, token_ids: the prompt continued (text-only LM; greedy)",
    "continue_beam": "as continue, by beam search → text, token_ids, scores",
    "continue_top_k": "as continue, by top-k sampling",
    "continue_top_p": "as continue, by top-p (nucleus) sampling",
    "serving_default": "same as embed_text",
}


def special_token_ids(text_preprocessor):
    """`start_id`, `end_id` and `pad_id` of a `TextPreprocessor`'s vocabulary."""
    return {
        f"{key}_id": text_preprocessor.token_id(f"[{key.upper()}]")
        for key in ("start", "end", "pad")
    }


class ServingModule(tf.Module):
    """A trained backbone with its preprocessing, as `tf.function`s over raw inputs.

    Args:
        backbone: a `MultimodalBackbone` (float32).
        text_preprocessor: the `TextPreprocessor` the backbone was trained with.
        image_preprocessor: an `ImagePreprocessor` (its augmentation is never applied).
        audio_preprocessor: an `AudioPreprocessor` without log-mel (the encoder computes it).
        caption_max_length: decoder buffer length, start token included (≤ the decoder's
            sequence length).
        num_beams, length_penalty: of the `caption_beam` signature (see `beam_search`).
        max_image_pixels: `embed_image_bytes` refuses images with more pixels (read from the
            file header, before decoding) with an `InvalidArgumentError` (`image_too_large`).
        max_audio_seconds: `embed_audio_wav` refuses longer WAV files (`audio_too_long`).
        max_text_bytes: every signature taking `text` refuses a row of more bytes
            (`text_too_long`) before tokenizing it.
        sampling: temperature, top_k, top_p and seed of a text-only language model's
            `continue_top_k` / `continue_top_p` signatures (None: keras-nlp's defaults).
    """

    def __init__(
        self,
        backbone,
        text_preprocessor,
        image_preprocessor,
        audio_preprocessor,
        caption_max_length,
        num_beams=4,
        length_penalty=0.6,
        max_image_pixels=DEFAULT_MAX_PIXELS,
        max_audio_seconds=DEFAULT_MAX_AUDIO_SECONDS,
        max_text_bytes=DEFAULT_MAX_TEXT_BYTES,
        sampling=None,
        name="serving",
    ):
        super().__init__(name=name)
        self.max_text_bytes = max_text_bytes
        self.max_image_pixels = max_image_pixels
        self.max_audio_seconds = max_audio_seconds
        self.backbone = backbone
        self.text_preprocessor = text_preprocessor
        self.image_preprocessor = image_preprocessor
        self.audio_preprocessor = audio_preprocessor
        self.caption_max_length = caption_max_length
        self.modalities = tuple(backbone.modalities)
        self.embedding_models = {m: backbone.embedding_model(m) for m in self.modalities}
        self.can_caption = backbone.text_decoder is not None and "text" in self.modalities
        if self.can_caption:
            ids = special_token_ids(text_preprocessor)
            self.generators = {
                "greedy": Generator(backbone, caption_max_length, **ids),
                "beam": Generator(
                    backbone,
                    caption_max_length,
                    **ids,
                    strategy="beam",
                    num_beams=num_beams,
                    length_penalty=length_penalty,
                ),
            }
        # A text-only language model continues prompts (`CONTINUATION_SIGNATURES`).
        self.can_continue = self.can_caption and self.modalities == ("text",)
        if self.can_continue:
            decoding = {"num_beams": num_beams, "length_penalty": length_penalty}
            self.continuation = continuation_generators(
                backbone, caption_max_length, ids, {**decoding, **(sampling or {})}
            )
            self.sampler_variables = sampler_variables(self.continuation)

    # Preprocessing (B rows of raw input → the encoder's inputs).

    def text_inputs(self, text):
        text = limit_text(text, self.max_text_bytes)  # refused past the limit, not tokenized
        return self.text_preprocessor(text)  # token_ids, padding_mask (B, L)

    def image_inputs(self, images):
        return {"images": self.image_preprocessor(images, training=False)}  # (B, S, S, 3)

    def decode_images(self, image_bytes):
        size = self.image_preprocessor.image_size

        def decode(data):
            image = decode_image(data, self.max_image_pixels)  # (H, W, 3), size checked first
            image = self.image_preprocessor(image[None], training=False)[0]
            return tf.ensure_shape(image, [size, size, 3])

        images = tf.map_fn(decode, image_bytes, fn_output_signature=tf.float32)
        return {"images": images}  # (B, S, S, 3)

    def audio_inputs(self, audio):
        return self.audio_preprocessor(audio)  # audio, audio_padding_mask (B, S)

    def decode_wavs(self, wav_bytes):
        expected_rate = self.audio_preprocessor.sample_rate
        max_samples = int(self.max_audio_seconds * expected_rate)

        def decode(data):
            # A WAV holds its samples uncompressed: decoding costs no more than its bytes.
            waveform, sample_rate = tf.audio.decode_wav(data)  # (N, C), ()
            tf.debugging.assert_equal(
                sample_rate,
                expected_rate,
                message=f"WAV sample rate is not the {expected_rate} Hz the model expects",
            )
            tf.debugging.assert_less_equal(
                tf.shape(waveform)[0],
                max_samples,
                message=f"audio_too_long: the WAV is longer than the limit of "
                f"{self.max_audio_seconds:g} s (data.audio.max_seconds of the export)",
            )
            return tf.RaggedTensor.from_tensor(tf.reduce_mean(waveform, axis=-1)[None])[0]

        waveforms = tf.map_fn(
            decode,
            wav_bytes,
            fn_output_signature=tf.RaggedTensorSpec([None], tf.float32, ragged_rank=0),
        )  # (B, None)
        return self.audio_preprocessor(waveforms)

    # Model calls.

    def embed(self, modality, inputs):
        return {"embedding": self.embedding_models[modality](inputs, training=False)}

    def generate_from(self, encoder_inputs, present, strategy="greedy"):
        """Generated text of rows given some modalities' encoder inputs.

        Args:
            encoder_inputs: {modality: its encoder inputs} of the modalities given.
            present: {modality: (B,) bool} of the rows that have it (modalities left out of
                `encoder_inputs` may be named here as absent).
            strategy: "greedy" or "beam".
        """
        inputs = {}
        for m in self.modalities:
            inputs.update(encoder_inputs.get(m) or {})
            if m in present:
                inputs[f"{m}_present"] = present[m]
        outputs = self.generators[strategy](inputs)
        outputs["text"] = self.text_preprocessor.detokenize(outputs["token_ids"])
        return outputs

    # Signatures.

    def signatures(self):
        """Signature name → concrete function, for `tf.saved_model.save`."""
        string = tf.TensorSpec([None], tf.string)
        images_u8 = tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")
        images_f32 = tf.TensorSpec([None, None, None, 3], tf.float32, name="images")
        audio = tf.TensorSpec([None, None], tf.float32, name="audio")
        present = tf.TensorSpec([None], tf.bool)
        functions = {}

        def add(name, function, *specs):
            functions[name] = tf.function(function).get_concrete_function(*specs)

        if "text" in self.modalities:
            add("embed_text", lambda text: self.embed("text", self.text_inputs(text)), string)
            functions["serving_default"] = functions["embed_text"]
        if "image" in self.modalities:
            add(
                "embed_image",
                lambda images: self.embed("image", self.image_inputs(images)),
                images_u8,
            )
            add(
                "embed_image_float",
                lambda images: self.embed("image", self.image_inputs(images)),
                images_f32,
            )
            add(
                "embed_image_bytes",
                lambda image_bytes: self.embed("image", self.decode_images(image_bytes)),
                string,
            )
        if "audio" in self.modalities:
            add("embed_audio", lambda audio: self.embed("audio", self.audio_inputs(audio)), audio)
            add(
                "embed_audio_wav",
                lambda audio_wav: self.embed("audio", self.decode_wavs(audio_wav)),
                string,
            )
        if self.can_caption:
            self._add_caption_signatures(add, images_u8, audio, present)
        if self.can_continue:
            add_continuation_signatures(
                add, self.continuation, self.text_inputs, self.text_preprocessor
            )
        return functions

    def _add_caption_signatures(self, add, images_spec, audio_spec, present_spec):
        has_image, has_audio = "image" in self.modalities, "audio" in self.modalities

        def rows(tensor):
            return tf.ones([tf.shape(tensor)[0]], tf.bool)

        if has_image:
            add(
                "caption_image",
                lambda images: self.generate_from(
                    {"image": self.image_inputs(images)}, {"image": rows(images)}
                ),
                images_spec,
            )
        if has_audio:
            add(
                "caption_audio",
                lambda audio: self.generate_from(
                    {"audio": self.audio_inputs(audio)}, {"audio": rows(audio)}
                ),
                audio_spec,
            )
        if has_image and has_audio:
            for name, strategy in (("caption", "greedy"), ("caption_beam", "beam")):
                add(
                    name,
                    lambda images, audio, image_present, audio_present, s=strategy: (
                        self.generate_from(
                            {"image": self.image_inputs(images), "audio": self.audio_inputs(audio)},
                            {"image": image_present, "audio": audio_present},
                            strategy=s,
                        )
                    ),
                    images_spec,
                    audio_spec,
                    tf.TensorSpec([None], tf.bool, name="image_present"),
                    tf.TensorSpec([None], tf.bool, name="audio_present"),
                )
        # Text-conditioned generation: translation (text alone), question answering (a
        # question with an image and/or audio). Meaningful for a model fine-tuned with a
        # `task.source_text`.
        add(
            "generate_from_text",
            lambda text: self.generate_from({"text": self.text_inputs(text)}, {"text": rows(text)}),
            tf.TensorSpec([None], tf.string, name="text"),
        )
        if has_image and has_audio:
            for name, strategy in (("generate", "greedy"), ("generate_beam", "beam")):
                add(
                    name,
                    lambda text, images, audio, image_present, audio_present, s=strategy: (
                        self.generate_from(
                            {
                                "text": self.text_inputs(text),
                                "image": self.image_inputs(images),
                                "audio": self.audio_inputs(audio),
                            },
                            {"text": rows(text), "image": image_present, "audio": audio_present},
                            strategy=s,
                        )
                    ),
                    tf.TensorSpec([None], tf.string, name="text"),
                    images_spec,
                    audio_spec,
                    tf.TensorSpec([None], tf.bool, name="image_present"),
                    tf.TensorSpec([None], tf.bool, name="audio_present"),
                )

    def warmup_inputs(self):
        """Input name -> a one-row example of every input a signature may take (a blank image
        and one second of silence, raw and encoded), for the warmup records."""
        size = self.image_preprocessor.image_size
        rate = self.audio_preprocessor.sample_rate
        image = np.zeros((1, size, size, 3), np.uint8)  # (1, S, S, 3)
        audio = np.zeros((1, rate), np.float32)  # (1, N): 1 s
        return {
            "text": np.array([b"a red circle in the upper left corner"], object),
            "prompt": np.array([b"the"], object),
            "images": image,
            "image_bytes": np.array([tf.io.encode_png(image[0]).numpy()], object),
            "audio": audio,
            "audio_wav": np.array([tf.audio.encode_wav(audio[0][:, None], rate).numpy()], object),
            "image_present": np.array([True]),
            "audio_present": np.array([True]),
        }


def warmup_requests(signatures, examples):
    """(signature name, inputs) of one warmup request per signature of `signatures` (name ->
    concrete function), each input taken from `examples` by name and cast to its dtype."""
    requests = []
    for name, function in sorted(signatures.items()):
        # Python arguments (a decoding strategy bound as a default) are not inputs.
        specs = [s for s in function.structured_input_signature[0] if isinstance(s, tf.TensorSpec)]
        inputs = {spec.name: examples[spec.name] for spec in specs}
        for spec in specs:
            if spec.dtype != tf.string:
                inputs[spec.name] = inputs[spec.name].astype(spec.dtype.as_numpy_dtype)
        requests.append((name, inputs))
    return requests


def export_saved_model(module, path):
    """Writes `module`'s signatures as a SavedModel at `path`, with one TF Serving warmup
    record per signature (`assets.extra/tf_serving_warmup_requests`, replayed by TF Serving
    and `mmlm serve` before they answer from the model); returns the signature names."""
    signatures = module.signatures()
    tf.saved_model.save(module, path, signatures=signatures)
    write_warmup_requests(path, warmup_requests(signatures, module.warmup_inputs()))
    return sorted(signatures)
