"""Classification from one modality's encoder: a linear head on its pooled output."""

from mmlm.backend import keras, register, tf
from mmlm.models.multimodal_backbone import ENCODER_INPUTS
from mmlm.tasks.backbone_task import BackboneTask


@register
class ClassificationTask(BackboneTask):
    """Classifies each row from one encoder of the backbone (text, image or audio).

    Only that encoder runs; a Dense head maps its pooled output to class logits, trained with
    softmax cross-entropy over rows whose label is valid (≥ 0) and whose modality is present.

    Args:
        backbone: a `MultimodalBackbone`.
        modality: the encoder to classify from ("text", "image" or "audio").
        num_classes: classes of the label.
        label_feature: batch key of the int labels, (B,) or (B, K).
        label_index: with (B, K) labels, the column to predict (e.g. the first object's).
        dropout: dropout before the head in training.
        **kwargs: `Task` arguments.

    Call arguments: the modality's encoder inputs (a batch dict); returns logits (B, C) float32.
    """

    def __init__(
        self, backbone, modality, num_classes, label_feature, label_index=0, dropout=0.1, **kwargs
    ):
        if modality not in backbone.modalities:
            raise ValueError(f"the backbone has no {modality!r} encoder: {backbone.modalities}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        kwargs.pop("loss_weights", None)
        super().__init__(loss_weights={"classification": 1.0}, **kwargs)
        self.backbone = backbone
        self.modality = modality
        self.num_classes = num_classes
        self.label_feature = label_feature
        self.label_index = label_index
        self.dropout = dropout
        self.head_dropout = keras.layers.Dropout(dropout, name="head_dropout")
        self.head = keras.layers.Dense(num_classes, dtype="float32", name="classification_head")

    def call(self, batch, training=False):
        encoder = self.backbone.encoders[self.modality]
        inputs = {name: batch[name] for name in ENCODER_INPUTS[self.modality]}
        pooled = encoder(inputs, training=training)["pooled_output"]
        return self.head(self.head_dropout(pooled, training=training))

    def build_head(self):
        pooled = self.backbone.encoders[self.modality].output["pooled_output"]  # (B, H)
        self.head.build(pooled.shape)
        self.built = True

    def labels(self, batch):
        """(labels (B,) int32 clipped to ≥ 0, weights (B,) float32 of the rows that count)."""
        labels = tf.cast(batch[self.label_feature], tf.int32)
        if labels.shape.rank == 2:
            labels = labels[:, self.label_index]
        valid = tf.logical_and(labels >= 0, tf.cast(batch[f"{self.modality}_present"], tf.bool))
        return tf.maximum(labels, 0), tf.cast(valid, tf.float32)

    def compute_losses(self, batch, training):
        logits = self(batch, training=training)
        labels, weights = self.labels(batch)
        cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        return {
            "classification": tf.math.divide_no_nan(
                tf.reduce_sum(cross_entropy * weights), tf.reduce_sum(weights)
            )
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "modality": self.modality,
                "num_classes": self.num_classes,
                "label_feature": self.label_feature,
                "label_index": self.label_index,
                "dropout": self.dropout,
            }
        )
        return config
