"""The multimodal backbone: encoders + fusion + decoder + projection heads."""

import os

from mmlm import atomic_files, preset_files
from mmlm.backend import keras, register
from mmlm.layers import ProjectionHead
from mmlm.models.attention_maps import fusion_attention_model, key_segments

MODALITIES = ("text", "image", "audio")

# Input names of each modality's encoder (and of the backbone).
ENCODER_INPUTS = {
    "text": ("token_ids", "padding_mask"),
    "image": ("images",),
    "audio": ("audio", "audio_padding_mask"),
}
DECODER_INPUTS = ("decoder_token_ids", "decoder_padding_mask")


@register
class MultimodalBackbone(keras.Model):
    """Text / image / audio encoders, cross-modal fusion, text decoder, shared embedding space.

    Every modality is optional (pass None for an encoder the experiment does not use). Rows of a
    batch may lack a modality: the `{m}_present` inputs mask it out of the fusion, so the decoder
    and the fused outputs only see what is there. Contrastive embeddings come from each encoder
    alone (CLIP-style), so each modality can be embedded without the others
    (`embedding_model(modality)`).

    Args:
        text_encoder: a `TextEncoder` or None.
        image_encoder: a `ViTEncoder` or None.
        audio_encoder: an `AudioSpectrogramEncoder` or None.
        fusion_encoder: a `CrossModalFusionEncoder` over the present encoders' modalities.
        text_decoder: a `TextDecoder` or None.
        embedding_dim: size of the shared, L2-normalized embedding space.
        projection_heads: optional {modality: layer} mapping each encoder's pooled output to
            its embedding, instead of new `ProjectionHead`s (compression rebuilds a backbone
            around wrapped heads this way). Not serialized: `get_config` describes the
            default heads.

    Inputs (dict): the encoders' inputs (`token_ids`, `padding_mask`, `images`, `audio`,
    `audio_padding_mask`), one `{m}_present` (B,) bool per modality, and with a decoder
    `decoder_token_ids`, `decoder_padding_mask`.

    Outputs (dict): `{m}_embedding` (B, embedding_dim) per modality, `fused_sequence`,
    `fused_padding_mask`, `fused_pooled_output`, and with a decoder `decoder_logits`.
    """

    def __init__(
        self,
        text_encoder=None,
        image_encoder=None,
        audio_encoder=None,
        fusion_encoder=None,
        text_decoder=None,
        embedding_dim=128,
        projection_heads=None,
        **kwargs,
    ):
        encoders = {
            m: e
            for m, e in zip(MODALITIES, (text_encoder, image_encoder, audio_encoder))
            if e is not None
        }
        if not encoders:
            raise ValueError("MultimodalBackbone needs at least one encoder.")
        heads = projection_heads or {
            m: ProjectionHead(embedding_dim, name=f"{m}_projection") for m in encoders
        }
        inputs, encoded, fusion_inputs = _encoder_graph(encoders)
        outputs = {f"{m}_embedding": heads[m](encoded[m]["pooled_output"]) for m in encoders}
        if fusion_encoder is not None:
            fused = fusion_encoder(fusion_inputs)
            outputs["fused_sequence"] = fused["sequence_output"]
            outputs["fused_padding_mask"] = fused["padding_mask"]
            outputs["fused_pooled_output"] = fused["pooled_output"]
            if text_decoder is not None:
                decoder_inputs = {
                    name: _like(text_decoder.input[name], name) for name in DECODER_INPUTS
                }
                inputs.update(decoder_inputs)
                decoded = text_decoder(
                    {
                        **decoder_inputs,
                        "encoder_sequence": fused["sequence_output"],
                        "encoder_padding_mask": fused["padding_mask"],
                    }
                )
                outputs["decoder_logits"] = decoded["logits"]
        elif text_decoder is not None:
            raise ValueError("A text decoder needs a fusion encoder to attend to.")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.encoders = encoders
        self.projection_heads = heads
        self.text_encoder = text_encoder
        self.image_encoder = image_encoder
        self.audio_encoder = audio_encoder
        self.fusion_encoder = fusion_encoder
        self.text_decoder = text_decoder
        self.embedding_dim = embedding_dim

    @property
    def modalities(self):
        return tuple(self.encoders)

    def embed(self, modality, inputs, training=False):
        """(B, embedding_dim) unit embeddings of one modality from its encoder inputs."""
        encoded = self._encode(modality, inputs, training)
        return self.projection_heads[modality](encoded["pooled_output"], training=training)

    def _encode(self, modality, inputs, training):
        """One encoder's outputs from the backbone inputs that encoder reads."""
        return self.encoders[modality](
            {name: inputs[name] for name in ENCODER_INPUTS[modality]}, training=training
        )

    def encode_and_decode(self, inputs, training=False, decoder_rows=None, hidden=()):
        """The backbone's outputs, with the fusion and the decoder on part of the batch only.

        What calling the backbone computes, for training steps that need the decoder on fewer
        rows than the embeddings: each encoder runs once on the whole batch, the fusion and the
        decoder on its first `decoder_rows` rows, and a `hidden` modality passes no tokens to
        the fusion (the same result as its `{m}_present` False, without computing it).

        Args:
            inputs: the backbone's inputs (see the class docstring).
            training: whether the model runs in training mode.
            decoder_rows: int or scalar int tensor; None: every row; 0: no fusion or decoder.
            hidden: modalities left out of the fusion.

        Returns:
            {`{m}_embedding`: (B, embedding_dim)} and, with a decoder, `decoder_logits`
            (decoder_rows, T, vocabulary).
        """
        encoded = {m: self._encode(m, inputs, training) for m in self.encoders}
        outputs = {
            # `training` explicitly: outside a Keras call there is no context to inherit it
            # from, and compression wrappers (pruning masks) act on it.
            f"{m}_embedding": self.projection_heads[m](
                encoded[m]["pooled_output"], training=training
            )
            for m in encoded
        }
        if self.text_decoder is None or (isinstance(decoder_rows, int) and decoder_rows == 0):
            return outputs
        rows = slice(None) if decoder_rows is None else slice(None, decoder_rows)
        fusion_inputs = {}
        for m, features in _fusion_features(encoded, inputs).items():
            tokens = slice(None, 0) if m in hidden else slice(None)
            fusion_inputs[f"{m}_sequence"] = features["sequence"][rows, tokens]
            fusion_inputs[f"{m}_padding_mask"] = features["padding_mask"][rows, tokens]
            fusion_inputs[f"{m}_present"] = features["present"][rows]
        fused = self.fusion_encoder(fusion_inputs, training=training)
        decoded = self.text_decoder(
            {
                **{name: inputs[name][rows] for name in DECODER_INPUTS},
                "encoder_sequence": fused["sequence_output"],
                "encoder_padding_mask": fused["padding_mask"],
            },
            training=training,
        )
        outputs["decoder_logits"] = decoded["logits"]
        return outputs

    def embedding_model(self, modality):
        """A functional model: that modality's encoder inputs → its unit embedding.

        What retrieval, export and on-device inference of one modality need, sharing weights.
        """
        encoder = self.encoders[modality]
        inputs = {name: _like(encoder.input[name], name) for name in encoder.input}
        embedding = self.projection_heads[modality](encoder(inputs)["pooled_output"])
        return keras.Model(inputs, embedding, name=f"{modality}_embedding_model")

    def conditioning_model(self):
        """A functional model: encoder inputs + `{m}_present` → what the decoder attends to.

        Outputs `sequence_output` (B, Le, H) and `padding_mask` (B, Le) of the fusion, computed
        once per input so that generation runs only the decoder per token.
        """
        if self.fusion_encoder is None:
            raise ValueError("conditioning_model needs a fusion encoder.")
        inputs, _, fusion_inputs = _encoder_graph(self.encoders)
        fused = self.fusion_encoder(fusion_inputs)
        outputs = {key: fused[key] for key in ("sequence_output", "padding_mask")}
        return keras.Model(inputs, outputs, name="conditioning_model")

    def attention_model(self):
        """A functional model: encoder inputs + `{m}_present` → the fusion's cross-attention.

        Outputs {"layer_L/m": (B, num_heads, Lq, Lc)} (see `models/attention_maps.py`), on
        this backbone's weights; the saved backbone does not change. `attention_key_segments`
        says which key columns hold which modality.
        """
        if self.fusion_encoder is None:
            raise ValueError("attention_model needs a fusion encoder.")
        inputs, _, fusion_inputs = _encoder_graph(self.encoders)
        maps = fusion_attention_model(self.fusion_encoder)(fusion_inputs)
        return keras.Model(inputs, maps, name="attention_model")

    def attention_key_segments(self, text_length):
        """{query modality: {"null" or key modality: slice of key columns}} of the maps.

        Args:
            text_length: the length of the text inputs (token_ids.shape[1]); image and audio
                sequences have their encoders' fixed patch counts (+ a class token).
        """
        lengths, class_tokens = {}, []
        for m, encoder in self.encoders.items():
            if m == "text":
                lengths[m] = int(text_length)
                continue
            class_token = getattr(encoder, "pooling", None) == "class_token"
            lengths[m] = encoder.num_patches + int(class_token)
            if class_token:
                class_tokens.append(m)
        return key_segments(self.modalities, lengths, class_tokens)

    def save_to_preset(self, preset):
        """Writes this backbone into the preset directory `preset` (created if needed).

        Pair it with `MultimodalPreprocessor.save_to_preset(preset)` so that the preset can
        read raw inputs; `mmlm export --format preset` writes both from a run.
        """
        os.makedirs(preset, exist_ok=True)
        # Atomically: a crash while saving leaves the previous file (or none), never half one.
        with atomic_files.replaced_file(os.path.join(preset, preset_files.BACKBONE)) as path:
            self.save(path)
        preset_files.update_metadata(
            preset,
            modalities=list(self.modalities),
            embedding_dim=self.embedding_dim,
            parameters=int(self.count_params()),
            has_decoder=self.text_decoder is not None,
        )
        return preset

    @classmethod
    def from_preset(cls, preset):
        """The backbone saved in the preset directory `preset` (see `mmlm.preset_files`).

        Example:
        >>> backbone = MultimodalBackbone.from_preset("saved_models/scenes_preset")
        >>> backbone.embed("text", preprocessor({"text": ["a red circle"]}))
        """
        metadata = preset_files.check(preset, [preset_files.BACKBONE])
        import mmlm.models  # noqa: F401  (registers the classes the file names)

        backbone = keras.models.load_model(
            os.path.join(preset, preset_files.BACKBONE), compile=False
        )
        if not isinstance(backbone, cls):
            raise preset_files.PresetError(
                f"preset {preset}: {preset_files.BACKBONE} holds a {type(backbone).__name__}, "
                f"not a {cls.__name__}"
            )
        if list(backbone.modalities) != list(metadata.get("modalities", backbone.modalities)):
            raise preset_files.PresetError(
                f"preset {preset}: {preset_files.METADATA} lists modalities "
                f"{metadata['modalities']}, {preset_files.BACKBONE} has {list(backbone.modalities)}"
            )
        return backbone

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        for key in (
            "text_encoder",
            "image_encoder",
            "audio_encoder",
            "fusion_encoder",
            "text_decoder",
        ):
            part = getattr(self, key)
            config[key] = None if part is None else keras.saving.serialize_keras_object(part)
        config["embedding_dim"] = self.embedding_dim
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key, value in config.items():
            if isinstance(value, dict) and "class_name" in value:
                config[key] = keras.saving.deserialize_keras_object(value)
        return cls(**config)


def _encoder_graph(encoders):
    """Fresh inputs of `encoders` (and `{m}_present`), their outputs and the fusion's inputs."""
    inputs, encoded, fusion_inputs = {}, {}, {}
    for m, encoder in encoders.items():
        encoder_inputs = {name: _like(encoder.input[name], name) for name in encoder.input}
        inputs.update(encoder_inputs)
        inputs[f"{m}_present"] = keras.Input((), dtype="bool", name=f"{m}_present")
        encoded[m] = encoder(encoder_inputs)
    for m, features in _fusion_features(encoded, inputs).items():
        for key, value in features.items():
            fusion_inputs[f"{m}_{key}"] = value
    return inputs, encoded, fusion_inputs


def _fusion_features(encoded, inputs):
    """{m: {"sequence", "padding_mask", "present"}}: what the fusion reads of each modality."""
    return {
        m: {
            "sequence": outputs["sequence_output"],
            # The text encoder keeps its input's padding mask; the others pad their own tokens.
            "padding_mask": inputs["padding_mask"] if m == "text" else outputs["padding_mask"],
            "present": inputs[f"{m}_present"],
        }
        for m, outputs in encoded.items()
    }


def _like(tensor, name):
    """A fresh `keras.Input` with the shape and dtype of a model's input tensor."""
    return keras.Input(tensor.shape[1:], dtype=tensor.dtype, name=name)
