"""Raw text, images and waveforms → the backbone's inputs, as one Keras layer."""

import os

import tensorflow as tf

from mmlm import preset_files
from mmlm.backend import keras, register
from mmlm.data.preprocessing import vocabulary as vocab_lib
from mmlm.data.preprocessing.audio_preprocessor import AudioPreprocessor
from mmlm.data.preprocessing.image_preprocessor import ImagePreprocessor
from mmlm.data.preprocessing.text_preprocessor import TextPreprocessor

_PARTS = {"text": "text_preprocessor", "image": "image_preprocessor", "audio": "audio_preprocessor"}


@register
class MultimodalPreprocessor(keras.layers.Layer):
    """Turns a batch of raw examples into the inputs of a `MultimodalBackbone`.

    Each modality has its own preprocessing layer (tokenizer and packer, resize and rescale,
    crop or pad to the audio length); this layer runs those the batch has and marks the others
    absent (`{m}_present` False, zeros of the right shape), so a backbone with three encoders
    can be fed images alone. Within a batch, an empty text marks that row's text absent. It runs eagerly, in `tf.function` and in `tf.data.Dataset.map`.

    Args:
        text_preprocessor: a `TextPreprocessor` or None.
        image_preprocessor: an `ImagePreprocessor` or None.
        audio_preprocessor: an `AudioPreprocessor` (without `log_mel`: the backbone computes
            the log-mel spectrogram in its graph) or None.

    Call arguments:
        inputs: a dict with any of `text` (B,) strings, `image` (B, H, W, C) uint8 or float
            images of any size, `audio` (B, N) waveforms (or a ragged batch) at the audio
            preprocessor's sample rate. Other keys (labels, ids) pass through unchanged.
        training: whether to augment images (when the image preprocessor augments).

    Returns:
        A dict of the backbone's inputs (`token_ids`, `padding_mask`, `images`, `audio`,
        `audio_padding_mask`, `{m}_present`) plus the passed-through keys.

    Example:
    >>> preprocessor = MultimodalPreprocessor.from_preset("saved_models/scenes_preset")
    >>> inputs = preprocessor({"text": ["a red circle in the upper left corner"]})
    >>> backbone.embed("text", inputs).shape
    TensorShape([1, 128])
    """

    def __init__(
        self, text_preprocessor=None, image_preprocessor=None, audio_preprocessor=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.text_preprocessor = _layer(text_preprocessor)
        self.image_preprocessor = _layer(image_preprocessor)
        self.audio_preprocessor = _layer(audio_preprocessor)
        if self.audio_preprocessor is not None and self.audio_preprocessor.log_mel is not None:
            raise ValueError("the audio preprocessor must not compute log-mel: the backbone does")
        if not self.modalities:
            raise ValueError("MultimodalPreprocessor needs at least one modality's preprocessor")

    @property
    def modalities(self):
        return tuple(m for m, attribute in _PARTS.items() if getattr(self, attribute) is not None)

    def call(self, inputs, training=False):
        if not isinstance(inputs, dict):
            raise TypeError(
                f"MultimodalPreprocessor takes a dict with keys among {list(_PARTS)}, got "
                f"{type(inputs).__name__}"
            )
        given = [m for m in _PARTS if m in inputs]
        if not set(given) & set(self.modalities):
            raise ValueError(
                f"the inputs hold none of this preprocessor's modalities {list(self.modalities)} "
                f"(keys: {sorted(inputs)})"
            )
        outputs = {key: value for key, value in inputs.items() if key not in _PARTS}
        batch = _batch_size(inputs[next(m for m in given if m in self.modalities)])
        for m in self.modalities:
            present = m in inputs
            features = self._features(m, inputs[m], training) if present else self._absent(m, batch)
            outputs.update(features)
            outputs[f"{m}_present"] = tf.fill([batch], present)  # (B,)
        if "text" in inputs and "text" in self.modalities:
            outputs["text_present"] = tf.strings.length(inputs["text"]) > 0  # (B,)
        return outputs

    def _features(self, modality, value, training):
        if modality == "text":
            return self.text_preprocessor(value)
        if modality == "image":
            return {"images": self.image_preprocessor(value, training=training)}
        return self.audio_preprocessor(value)

    def _absent(self, modality, batch):
        """Zeros of the modality's shape with an all-False padding mask."""
        if modality == "text":
            length = self.text_preprocessor.sequence_length
            return {
                "token_ids": tf.zeros([batch, length], tf.int32),
                "padding_mask": tf.zeros([batch, length], tf.bool),
            }
        if modality == "image":
            size = self.image_preprocessor.image_size
            return {"images": tf.zeros([batch, size, size, 3], tf.float32)}
        samples = self.audio_preprocessor.max_samples
        return {
            "audio": tf.zeros([batch, samples], tf.float32),
            "audio_padding_mask": tf.zeros([batch, samples], tf.bool),
        }

    def get_config(self):
        config = super().get_config()
        for attribute in _PARTS.values():
            part = getattr(self, attribute)
            config[attribute] = None if part is None else keras.saving.serialize_keras_object(part)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def save_to_preset(self, preset):
        """Writes `preprocessor.json` and `assets/vocabulary.txt` into the preset directory."""
        config = keras.saving.serialize_keras_object(self)
        text = config["config"]["text_preprocessor"]
        if text is not None:
            vocab_lib.save_vocabulary(
                self.text_preprocessor.vocabulary, os.path.join(preset, preset_files.VOCABULARY)
            )
            text["config"]["vocabulary"] = preset_files.VOCABULARY  # relative to the preset
        preset_files.write_json(os.path.join(preset, preset_files.PREPROCESSOR), config)
        preset_files.update_metadata(preset, preprocessor_modalities=list(self.modalities))
        return preset

    @classmethod
    def from_preset(cls, preset):
        """The preprocessor saved in the preset directory `preset` (see `mmlm.preset_files`)."""
        metadata = preset_files.check(preset, [preset_files.PREPROCESSOR])
        files = (
            [preset_files.VOCABULARY]
            if "text" in metadata.get("preprocessor_modalities", ())
            else []
        )
        preset_files.check(preset, files)
        config = preset_files.read_json(os.path.join(preset, preset_files.PREPROCESSOR), preset)
        text = (config.get("config") or {}).get("text_preprocessor")
        if text is not None:
            text["config"]["vocabulary"] = os.path.join(preset, text["config"]["vocabulary"])
        try:
            return keras.saving.deserialize_keras_object(config)
        except (TypeError, ValueError, KeyError) as error:
            raise preset_files.PresetError(
                f"preset {preset}: {preset_files.PREPROCESSOR} does not describe a "
                f"MultimodalPreprocessor: {error}"
            ) from error


def _layer(value):
    if isinstance(value, dict):
        return keras.saving.deserialize_keras_object(value)
    return value


def _batch_size(value):
    if isinstance(value, tf.RaggedTensor):
        return value.nrows(out_type=tf.int32)
    value = tf.convert_to_tensor(value)
    if value.shape.rank == 0:
        raise ValueError(
            "MultimodalPreprocessor takes batches: wrap a single example in a list (or batch "
            "the tf.data pipeline before mapping it)"
        )
    return tf.shape(value, out_type=tf.int32)[0]


__all__ = ["MultimodalPreprocessor", "TextPreprocessor", "ImagePreprocessor", "AudioPreprocessor"]
