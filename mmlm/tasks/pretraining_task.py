"""Self-supervised pretraining: contrastive, masked LM, masked patches, captioning."""

import math

from mmlm.backend import keras, keras_nlp, register, tf
from mmlm.models.multimodal_backbone import ENCODER_INPUTS
from mmlm.objectives import (
    causal_lm_loss,
    masked_lm_loss,
    masked_patch_loss,
    pairwise_contrastive_losses,
    patch_validity,
    patchify_images,
    patchify_spectrogram,
    shift_for_causal_lm,
)
from mmlm.tasks.backbone_task import BackboneTask

LOSS_TERMS = ("contrastive", "masked_lm", "masked_image", "masked_audio", "captioning")
CONTRASTIVE_LOSSES = ("infonce", "sigmoid")  # `ContrastiveLoss` values


def captioning_inputs(batch, modalities):
    """Backbone inputs of a batch with the decoder captioning it from image and audio.

    The caption is the decoder's target, so the text is hidden from the fusion (its encoder
    still runs: the text embedding comes from the same pass). Decoder inputs are the caption's
    tokens shifted right by one.
    """
    inputs = {}
    for m in modalities:
        for name in ENCODER_INPUTS[m]:
            inputs[name] = batch[name]
        inputs[f"{m}_present"] = tf.cast(batch[f"{m}_present"], tf.bool)
    if "text" in modalities:
        inputs["text_present"] = tf.zeros_like(inputs["text_present"])
        decoder_ids, _, _ = shift_for_causal_lm(batch["token_ids"], batch["padding_mask"])
        inputs["decoder_token_ids"] = decoder_ids
        inputs["decoder_padding_mask"] = batch["padding_mask"][:, :-1]
    return inputs


def captioning_targets(batch, modalities, rows=None):
    """(labels, weights) of the decoder's next-token loss for `captioning_inputs(batch)`.

    Only rows with a caption and something to caption it from (image or audio) count; a
    text-only backbone has nothing to condition on, so every row with a text counts: its
    decoder is then a GPT-style causal language model (it attends only to the fusion's null
    token). `rows` (int or scalar tensor) keeps the first rows only (None: all).
    """
    if rows is not None:
        keys = ["token_ids", "padding_mask"] + [f"{m}_present" for m in modalities]
        batch = {key: batch[key][:rows] for key in keys}
    _, labels, weights = shift_for_causal_lm(batch["token_ids"], batch["padding_mask"])
    present = {m: tf.cast(batch[f"{m}_present"], tf.bool) for m in modalities}
    conditioned = tf.zeros_like(present["text"])
    if not {"image", "audio"} & set(present):
        conditioned = tf.ones_like(present["text"])
    for m in ("image", "audio"):
        if m in present:
            conditioned = tf.logical_or(conditioned, present[m])
    rows = tf.cast(tf.logical_and(conditioned, present["text"]), tf.float32)
    return labels, weights * rows[:, None]


@register
class PretrainingTask(BackboneTask):
    """The multimodal backbone trained with a weighted sum of self-supervised objectives.

    - `contrastive`: symmetric InfoNCE (or, with `contrastive_loss="sigmoid"`, SigLIP's
      pairwise sigmoid loss with a learned bias) for every pair of present modalities (mean
      over pairs), learnable temperature, negatives gathered across replicas; batches with
      `negative_token_ids` / `negative_valid` (hard-negative texts, see `WordSwapNegatives`)
      and `exchange_token_ids` / `exchange_valid` (`WordExchangeNegatives`) add those texts as
      candidates for the image and audio queries;
    - `masked_lm`: the text encoder on masked tokens predicts the originals;
    - `masked_image` / `masked_audio`: the ViT / audio encoder with masked patches replaced by a
      mask token reconstructs the (per-patch normalized) pixels / log-mel values of the masked
      patches (SimMIM-style masked modelling);
    - `captioning`: the decoder predicts the caption conditioned on the fused image and audio
      (the caption's own text is hidden from the fusion); with a text-only backbone, the
      decoder alone as a causal language model of the texts.

    Args:
        backbone: a `MultimodalBackbone`.
        loss_weights: {term: weight}; terms with weight 0 (or whose modality the backbone lacks)
            are not computed.
        initial_temperature: contrastive temperature at initialization.
        max_logit_scale: clip of the learned 1 / temperature.
        contrastive_loss: "infonce" (CLIP) or "sigmoid" (SigLIP; see
            `sigmoid_contrastive_loss`).
        initial_logit_bias: the sigmoid loss's learned bias at initialization (unused by
            InfoNCE, which has no bias).
        caption_modality_dropout: in training, the share of rows (with both image and audio)
            captioned from only one of them (chosen at random), so the decoder also learns to
            caption from speech alone rather than leaning on the image.
        captioning_batch_fraction: in training, the share of each batch's rows (the first
            ones; batches are shuffled) that the fusion and the decoder caption. The encoders
            and the other objectives see every row; evaluation captions every row.
        **kwargs: `Task` arguments (accumulation_steps, clip_global_norm).

    Call arguments (what `fit` batches hold): the backbone's encoder inputs, `{m}_present`, and
    for the masked objectives `masked_token_ids`, `mask_positions`, `mask_ids`, `mask_weights`,
    `image_patch_mask`, `audio_patch_mask` (see `mmlm.data.pipeline`).
    """

    DECODER_TERMS = ("captioning",)  # the terms that read the decoder's logits

    def __init__(
        self,
        backbone,
        loss_weights,
        initial_temperature=0.07,
        max_logit_scale=100.0,
        contrastive_loss="infonce",
        initial_logit_bias=-10.0,
        caption_modality_dropout=0.0,
        captioning_batch_fraction=1.0,
        **kwargs,
    ):
        if not 0.0 < captioning_batch_fraction <= 1.0:
            raise ValueError(
                f"captioning_batch_fraction must be in (0, 1], got {captioning_batch_fraction}."
            )
        if contrastive_loss not in CONTRASTIVE_LOSSES:
            raise ValueError(
                f"contrastive_loss must be one of {CONTRASTIVE_LOSSES}, got {contrastive_loss!r}."
            )
        modalities = set(backbone.modalities)
        needs = {
            "masked_lm": {"text"},
            "masked_image": {"image"},
            "masked_audio": {"audio"},
            "captioning": {"text"},
        }
        active = {
            term: float(weight)
            for term, weight in loss_weights.items()
            if weight and needs.get(term, set()) <= modalities
        }
        if "contrastive" in active and len(modalities) < 2:
            del active["contrastive"]
        if "captioning" in active and backbone.text_decoder is None:
            del active["captioning"]
        super().__init__(loss_weights=active, **kwargs)
        self.backbone = backbone
        self.requested_loss_weights = dict(loss_weights)
        self.initial_temperature = initial_temperature
        self.max_logit_scale = max_logit_scale
        self.caption_modality_dropout = caption_modality_dropout
        self.captioning_batch_fraction = float(captioning_batch_fraction)
        self.logit_scale = self.add_weight(
            "logit_scale",
            shape=(),
            initializer=keras.initializers.Constant(math.log(1.0 / initial_temperature)),
            dtype="float32",
        )
        self.contrastive_loss = contrastive_loss
        self.initial_logit_bias = float(initial_logit_bias)
        self.logit_bias = None
        if contrastive_loss == "sigmoid":
            self.logit_bias = self.add_weight(
                "logit_bias",
                shape=(),
                initializer=keras.initializers.Constant(self.initial_logit_bias),
                dtype="float32",
            )
        heads = {}
        if "masked_lm" in active:
            heads["masked_lm"] = keras_nlp.layers.MaskedLMHead(
                vocabulary_size=backbone.text_encoder.vocabulary_size, name="masked_lm_head"
            )
        if "masked_image" in active:
            p = backbone.image_encoder.patch_size
            heads["masked_image"] = keras.layers.Dense(
                p * p * 3, dtype="float32", name="masked_image_head"
            )
        if "masked_audio" in active:
            p = backbone.audio_encoder.patch_size
            heads["masked_audio"] = keras.layers.Dense(
                p * p, dtype="float32", name="masked_audio_head"
            )
        self.heads = heads

    @property
    def modalities(self):
        return self.backbone.modalities

    def build_head(self):
        """Creates the variables of the masked-modelling heads (to load saved task weights)."""
        encoders = {"masked_lm": "text", "masked_image": "image", "masked_audio": "audio"}
        for term, head in self.heads.items():
            encoder = self.backbone.encoders[encoders[term]]
            hidden = encoder.output["sequence_output"].shape[-1]  # every tower's width
            if head.built:
                continue
            if term == "masked_lm":
                head(tf.zeros([1, 1, hidden]), mask_positions=tf.zeros([1, 1], tf.int32))
            else:
                head.build((None, None, hidden))
        self.built = True

    def temperature(self):
        return 1.0 / self._logit_scale()

    def _logit_scale(self):
        return tf.minimum(tf.exp(self.logit_scale), self.max_logit_scale)

    def step_metrics(self):
        if "contrastive" not in self.loss_weights:
            return {}
        metrics = {"temperature": self.temperature()}
        if self.logit_bias is not None:
            metrics["logit_bias"] = tf.identity(self.logit_bias)
        return metrics

    def call(self, inputs, training=False):
        """The backbone's outputs for a batch (captioning conditioned on image and audio)."""
        return self.backbone(self.backbone_inputs(inputs, training), training=training)

    def backbone_inputs(self, batch, training=False):
        """What `call` feeds the backbone: `captioning_inputs`, with modality dropout in training.

        Random in training: a caller that runs a second model on the same inputs (a teacher)
        computes them once with this and passes the outputs to `compute_losses`.
        """
        inputs = captioning_inputs(batch, self.modalities)
        if (
            training
            and self.caption_modality_dropout
            and {"image", "audio"} <= set(self.modalities)
        ):
            inputs.update(self._drop_one_modality(inputs))
        return inputs

    def decoded_rows(self, inputs, training):
        """How many rows (the first) of `backbone_inputs` the decoder captions.

        None: every row; 0: none (captioning is off). In training, the first
        `captioning_batch_fraction` of the batch, rounded up.
        """
        if not set(self.DECODER_TERMS) & set(self.loss_weights):
            return 0
        if not training or self.captioning_batch_fraction == 1.0:
            return None
        size = tf.shape(inputs[f"{self.modalities[0]}_present"])[0]
        return tf.cast(
            tf.math.ceil(self.captioning_batch_fraction * tf.cast(size, tf.float32)), tf.int32
        )

    def training_outputs(self, backbone, inputs, rows, training):
        """What the losses read of `backbone` (this task's or a teacher) on `backbone_inputs`.

        The embeddings of every row and the decoder's logits of the first `rows` rows (see
        `decoded_rows`). The caption's text is hidden from the fusion (`captioning_inputs`),
        so the fusion leaves it out rather than computing it and masking it.
        """
        hidden = ("text",) if "text" in self.modalities else ()
        return backbone.encode_and_decode(
            inputs, training=training, decoder_rows=rows, hidden=hidden
        )

    def _drop_one_modality(self, inputs):
        """Hides the image or the audio (one, at random) of a random share of rows."""
        image, audio = inputs["image_present"], inputs["audio_present"]
        shape = tf.shape(image)
        drop = tf.random.uniform(shape) < self.caption_modality_dropout
        drop_image = tf.random.uniform(shape) < 0.5
        both = tf.logical_and(image, audio)
        return {
            "image_present": tf.logical_and(image, ~(both & drop & drop_image)),
            "audio_present": tf.logical_and(audio, ~(both & drop & ~drop_image)),
        }

    def compute_losses(self, batch, training, outputs=None):
        """The active pretraining terms of a batch.

        Args:
            batch: a dict batch (see the class docstring).
            training: whether the model runs in training mode.
            outputs: `training_outputs` of the backbone for `backbone_inputs(batch,
                training)` when the caller ran it already; None runs it here.

        Returns:
            {term: float32 scalar}.
        """
        losses = {}
        weights = self.loss_weights
        present = {m: tf.cast(batch[f"{m}_present"], tf.bool) for m in self.modalities}
        if outputs is None and ("contrastive" in weights or "captioning" in weights):
            inputs = self.backbone_inputs(batch, training)
            rows = self.decoded_rows(inputs, training)
            outputs = self.training_outputs(self.backbone, inputs, rows, training)
        if "contrastive" in weights:
            embeddings = {m: outputs[f"{m}_embedding"] for m in self.modalities}
            negatives = self._text_negatives(batch, present, training)
            pairs = pairwise_contrastive_losses(
                embeddings,
                present,
                self._logit_scale(),
                negatives=negatives,
                logit_bias=self.logit_bias,
            )
            losses["contrastive"] = tf.add_n(list(pairs.values())) / len(pairs)
        if "captioning" in weights:
            logits = outputs["decoder_logits"]
            labels, label_weights = captioning_targets(
                batch, self.modalities, rows=tf.shape(logits)[0]
            )
            losses["captioning"] = causal_lm_loss(logits, labels, label_weights)
        if "masked_lm" in weights:
            losses["masked_lm"] = self._masked_lm_loss(batch, present["text"], training)
        if "masked_image" in weights:
            losses["masked_image"] = self._masked_image_loss(batch, present["image"], training)
        if "masked_audio" in weights:
            losses["masked_audio"] = self._masked_audio_loss(batch, present["audio"], training)
        return losses

    def _text_negatives(self, batch, present, training):
        """{"text": (embeddings, valid)} of the batch's hard-negative texts, if it has them.

        Swapped (`negative_*`) and exchanged (`exchange_*`) negatives are encoded in one pass
        and form one set of candidates.
        """
        kinds = [k for k in ("negative", "exchange") if f"{k}_token_ids" in batch]
        if not kinds or "text" not in self.modalities:
            return None
        token_ids = tf.concat([batch[f"{k}_token_ids"] for k in kinds], axis=0)
        padding_mask = tf.concat([batch["padding_mask"]] * len(kinds), axis=0)
        inputs = {"token_ids": token_ids, "padding_mask": padding_mask}
        embeddings = self.backbone.embed("text", inputs, training=training)
        valid = tf.concat(
            [tf.logical_and(tf.cast(batch[f"{k}_valid"], tf.bool), present["text"]) for k in kinds],
            axis=0,
        )
        return {"text": (embeddings, valid)}

    def _masked_lm_loss(self, batch, present, training):
        encoded = self.backbone.text_encoder(
            {"token_ids": batch["masked_token_ids"], "padding_mask": batch["padding_mask"]},
            training=training,
        )
        logits = self.heads["masked_lm"](
            encoded["sequence_output"], mask_positions=batch["mask_positions"]
        )
        weights = tf.cast(batch["mask_weights"], tf.float32)
        weights *= tf.cast(present, tf.float32)[:, None]
        return masked_lm_loss(logits, batch["mask_ids"], weights)

    def _masked_image_loss(self, batch, present, training):
        encoder = self.backbone.image_encoder
        patch_mask = tf.cast(batch["image_patch_mask"], tf.bool)
        encoded = encoder.masked_encoder(
            {"images": batch["images"], "patch_mask": patch_mask}, training=training
        )
        predictions = self.heads["masked_image"](encoded["patch_output"])  # (B, N, p·p·3)
        targets = patchify_images(batch["images"], encoder.patch_size)
        valid = tf.broadcast_to(present[:, None], tf.shape(patch_mask))
        return masked_patch_loss(predictions, targets, patch_mask, patch_valid=valid)

    def _masked_audio_loss(self, batch, present, training):
        encoder = self.backbone.audio_encoder
        patch_mask = tf.cast(batch["audio_patch_mask"], tf.bool)
        encoded = encoder.masked_encoder(
            {
                "audio": batch["audio"],
                "audio_padding_mask": batch["audio_padding_mask"],
                "patch_mask": patch_mask,
            },
            training=training,
        )
        predictions = self.heads["masked_audio"](encoded["patch_output"])  # (B, N, p·p)
        p = encoder.patch_size
        spectrogram = tf.stop_gradient(encoded["spectrogram"])
        targets = patchify_spectrogram(spectrogram, p)
        mel_patches = spectrogram.shape[-1] // p
        valid = patch_validity(encoded["frame_mask"], p, mel_patches)
        valid = tf.logical_and(valid, present[:, None])
        return masked_patch_loss(predictions, targets, patch_mask, patch_valid=valid)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "loss_weights": self.requested_loss_weights,
                "initial_temperature": self.initial_temperature,
                "max_logit_scale": self.max_logit_scale,
                "contrastive_loss": self.contrastive_loss,
                "initial_logit_bias": self.initial_logit_bias,
                "caption_modality_dropout": self.caption_modality_dropout,
                "captioning_batch_fraction": self.captioning_batch_fraction,
            }
        )
        return config
