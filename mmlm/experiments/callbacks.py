"""Callbacks of an experiment that need evaluation (so they live above `training`)."""

from mmlm.backend import keras, tf
from mmlm.evaluation.evaluator import EmbeddingCollector, evaluate_backbone
from mmlm.experiments.explain import has_cross_attention, write_attention_summaries


def retrieval_scalars(metrics):
    """Flat {"retrieval/text_to_image/R@1": value, ...} of an evaluation's metrics dict."""
    scalars = {}
    for direction, values in metrics.get("retrieval", {}).items():
        for key, value in values.items():
            if key.startswith("R@"):
                scalars[f"retrieval/{direction}/{key}"] = value
    for name, values in metrics.get("zero_shot", {}).items():
        scalars[f"zero_shot/{name}/accuracy"] = values["accuracy"]
    if "perplexity" in metrics:
        scalars["perplexity"] = metrics["perplexity"]
    return scalars


class RetrievalEvaluation(keras.callbacks.Callback):
    """At every evaluation (epoch end), retrieval R@K on validation data, into TensorBoard.

    With a cross-modal fusion, the attention maps of the first validation examples are written
    too, as images (`attention/layer_L/m/head_H`, see `write_attention_summaries`).

    Args:
        dataset: the validation `tf.data.Dataset` (all features, not distributed).
        log_dir: TensorBoard run directory (scalars go to `log_dir/validation`).
        max_batches: batches evaluated (None = all).
        log: line printer.
    """

    def __init__(self, dataset, log_dir, max_batches=None, log=print):
        super().__init__()
        self.dataset = dataset
        self.log_dir = log_dir
        self.max_batches = max_batches
        self.log = log
        self._writer = None
        self._collector = None  # traced once, reused by every evaluation
        self._attention = None  # (backbone, its attention model, the batch drawn)

    def on_epoch_end(self, epoch, logs=None):
        backbone = self.model.backbone
        if self._collector is None or self._collector.backbone is not backbone:
            self._collector = EmbeddingCollector(backbone)
        metrics = evaluate_backbone(
            backbone, self.dataset, max_batches=self.max_batches, collector=self._collector
        )
        scalars = retrieval_scalars(metrics)
        step = int(self.model.optimizer.iterations.numpy())
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(f"{self.log_dir}/validation")
        # Keras's TensorBoard callback limits recording to its update_freq steps; this runs at
        # every evaluation.
        with self._writer.as_default(step=step), tf.summary.record_if(True):
            for name, value in scalars.items():
                tf.summary.scalar(name, value)
        self._writer.flush()
        self._write_attention(backbone, step)
        recall_at_1 = {k: v for k, v in scalars.items() if k.endswith("/R@1")}
        if logs is not None:  # History and EarlyStopping see R@1 as val_retrieval/...
            logs.update({f"val_{name}": value for name, value in recall_at_1.items()})
        shown = ", ".join(f"{k.split('/')[1]} {v:.3f}" for k, v in recall_at_1.items())
        if shown:  # nothing to retrieve between fewer than two modalities
            self.log(f"step {step}: validation R@1: {shown}")

    def use_attention_model(self, backbone, model):
        """Uses `model` (`backbone.attention_model()`) for `backbone`'s maps.

        Under `MultiWorkerMirroredStrategy` every worker must build it, at the same point: a
        Keras model creates variables, each one broadcast from the chief, so a model built by
        the chief's callback alone leaves the workers' collectives out of step.
        """
        self._attention = (backbone, model, next(iter(self.dataset)))

    def _write_attention(self, backbone, step):
        if not has_cross_attention(backbone):
            return
        if self._attention is None or self._attention[0] is not backbone:
            self.use_attention_model(backbone, backbone.attention_model())
        _, model, batch = self._attention
        write_attention_summaries(backbone, batch, f"{self.log_dir}/validation", step, model=model)
