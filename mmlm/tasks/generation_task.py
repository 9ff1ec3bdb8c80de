"""Text generation fine-tuning: captioning, speech recognition, translation, answering."""

from mmlm.backend import register, tf
from mmlm.models.multimodal_backbone import ENCODER_INPUTS
from mmlm.objectives import causal_lm_loss, shift_for_causal_lm
from mmlm.tasks.backbone_task import BackboneTask


def target_keys(target_text):
    """Batch keys of a text feature's token ids and padding mask."""
    if target_text == "text":
        return "token_ids", "padding_mask"
    return f"{target_text}_token_ids", f"{target_text}_padding_mask"


@register
class GenerationTask(BackboneTask):
    """The decoder learns to write a text conditioned on the fusion of other inputs.

    - captioning: `conditioning=("image",)`, target "text";
    - speech recognition: `conditioning=("audio",)`, target "text";
    - translation: `source_text="text"`, `conditioning=()`, target "text_es";
    - question answering: `source_text="question"`, `conditioning=("image",)`, target "answer".

    The fusion sees the conditioning modalities and the source text (through the text
    encoder); every other modality is masked out of it (its `{m}_present` is False), so the
    target text never leaks in. The loss is the decoder's causal LM loss (teacher forcing)
    over rows with a target and at least one conditioning input.

    Args:
        backbone: a `MultimodalBackbone` with a fusion encoder and a text decoder.
        conditioning: modalities the fusion sees besides the source text.
        source_text: batch text feature fed to the text encoder ("" = none).
        target_text: batch text feature the decoder writes.
        **kwargs: `Task` arguments (accumulation_steps, clip_global_norm, name).

    Call arguments (what `fit` batches hold): the backbone's encoder inputs, `{m}_present`,
    and the target's `<target>_token_ids` / `<target>_padding_mask` ("text": `token_ids`).
    """

    def __init__(self, backbone, conditioning, source_text="", target_text="text", **kwargs):
        if backbone.text_decoder is None or backbone.fusion_encoder is None:
            raise ValueError("a generation task needs a backbone with a fusion and a decoder")
        unknown = set(conditioning) - set(backbone.modalities) - {"text"}
        if unknown or "text" in conditioning:
            raise ValueError(
                f"conditioning must name the backbone's non-text modalities "
                f"{[m for m in backbone.modalities if m != 'text']}, got {list(conditioning)} "
                "(text conditions through source_text)"
            )
        if not conditioning and not source_text:
            raise ValueError("a generation task needs conditioning modalities or a source text")
        kwargs.pop("loss_weights", None)
        super().__init__(loss_weights={"generation": 1.0}, **kwargs)
        self.backbone = backbone
        self.conditioning = tuple(conditioning)
        self.source_text = source_text
        self.target_text = target_text

    def generator_inputs(self, batch):
        """The conditioning of a batch as `Generator` inputs (what evaluation decodes from)."""
        inputs = {}
        for m in self.conditioning:
            inputs.update({name: batch[name] for name in ENCODER_INPUTS[m]})
            inputs[f"{m}_present"] = tf.cast(batch[f"{m}_present"], tf.bool)
        if self.source_text:
            ids, mask = target_keys(self.source_text)
            inputs["token_ids"], inputs["padding_mask"] = batch[ids], batch[mask]
            inputs["text_present"] = tf.reduce_any(batch[mask], axis=1)
        return inputs

    def backbone_inputs(self, batch):
        inputs = self.generator_inputs(batch)
        rows = tf.shape(batch[target_keys(self.target_text)[0]])[0]
        for m in self.backbone.modalities:
            for name in ENCODER_INPUTS[m]:
                inputs.setdefault(name, batch[name])
            inputs.setdefault(f"{m}_present", tf.zeros([rows], tf.bool))
        ids, mask = target_keys(self.target_text)
        decoder_ids, _, _ = shift_for_causal_lm(batch[ids], batch[mask])
        inputs["decoder_token_ids"] = decoder_ids
        inputs["decoder_padding_mask"] = batch[mask][:, :-1]
        return inputs

    def call(self, batch, training=False):
        return self.backbone(self.backbone_inputs(batch), training=training)

    def target_labels(self, batch):
        """(labels, weights) of the causal LM loss: rows with a target and a conditioning."""
        ids, mask = target_keys(self.target_text)
        _, labels, weights = shift_for_causal_lm(batch[ids], batch[mask])
        inputs = self.generator_inputs(batch)
        conditioned = tf.zeros_like(weights[:, 0], tf.bool)
        for m in self.conditioning + (("text",) if self.source_text else ()):
            conditioned = tf.logical_or(conditioned, inputs[f"{m}_present"])
        has_target = tf.reduce_any(batch[mask], axis=1)
        rows = tf.cast(tf.logical_and(conditioned, has_target), weights.dtype)
        return labels, weights * rows[:, None]

    def compute_losses(self, batch, training):
        logits = self(batch, training=training)["decoder_logits"]
        labels, weights = self.target_labels(batch)
        return {"generation": causal_lm_loss(logits, labels, weights)}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "conditioning": list(self.conditioning),
                "source_text": self.source_text,
                "target_text": self.target_text,
            }
        )
        return config
