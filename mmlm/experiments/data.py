"""The data side of an experiment: prepared source, vocabulary and dataset functions."""

import dataclasses
import os

from mmlm import preset_files
from mmlm.data import factory
from mmlm.data.label_selection import label_selection
from mmlm.data.pipeline import build_dataset
from mmlm.data.prepare import load_prepared, prepare_data
from mmlm.data.preprocessing import vocabulary as vocab_lib
from mmlm.experiments.artifacts import model_dir
from mmlm.models import ENCODER_INPUTS

_MASK_FEATURES = {
    "text": ("masked_token_ids", "mask_positions", "mask_ids", "mask_weights"),
    "image": ("image_patch_mask",),
    "audio": ("audio_patch_mask",),
}


DATA_REPORT = "data_report.json"


def run_vocabulary_path(workdir):
    """The copy of the vocabulary a run keeps in its model directory (a preset)."""
    return os.path.join(model_dir(workdir), preset_files.VOCABULARY)


class ExperimentData:
    """The prepared data of an `ExperimentConfig` and the dataset builders the trainer calls.

    The source is opened on first use, so what needs only the vocabulary (exporting a run,
    preprocessing files) works without the data. A run directory keeps its own copy of the
    vocabulary (`run_vocabulary_path`): given `workdir`, that copy is used when it exists, so
    a run reads text the way it was trained wherever it is evaluated, resumed or exported.

    Args:
        config: the `ExperimentConfig`.
        workdir: the run directory, if there is one.
        init_from: the run a fine-tuning starts from: its vocabulary is the backbone's when
            `workdir` has none yet.
    """

    def __init__(self, config, workdir=None, init_from=None):
        self.config = config
        self.modalities = tuple(
            m for m in ("text", "image", "audio") if m in {x.value for x in config.data.modalities}
        )
        self._source = None
        self.vocabulary = None
        runs = [run for run in (workdir, init_from) if run]
        files = [run_vocabulary_path(run) for run in runs]
        found = next((path for path in files if os.path.isfile(path)), None)
        if found:
            self.vocabulary = vocab_lib.load_vocabulary(found)
        else:
            self._source, self.vocabulary = load_prepared(config.data)

    @property
    def source(self):
        """The prepared `Source` (fails clearly if the data is not prepared)."""
        if self._source is None:
            self._source, _ = load_prepared(self.config.data, vocabulary=False)
        return self._source

    def preprocessor(self):
        """The inference-time `MultimodalPreprocessor` of the run's modalities."""
        return factory.multimodal_preprocessor(self.config.data, self.vocabulary)

    def save_preprocessor(self, workdir):
        """Writes the run's preprocessing (settings and vocabulary) into its model directory."""
        return self.preprocessor().save_to_preset(model_dir(workdir))

    @property
    def vocabulary_size(self):
        return len(self.vocabulary or [])

    def text_preprocessor(self):
        return factory.text_preprocessor(self.config.data, self.vocabulary)

    def dataset(
        self,
        split,
        input_context=None,
        global_batch_size=None,
        *,
        masks=True,
        training=None,
        repeat=False,
    ):
        """Batches of `split` (all features: model inputs, masks, raw text and labels).

        `training` (default: `split == "train"`) shuffles, augments and, in a control run,
        breaks the pairs; evaluation passes False to see the real pairs of any split. Training
        on "train" keeps only the labelled (and pseudo-labelled) examples of a semi-supervised
        task (`task.num_labelled`, `task.pseudo_labels`). `repeat` makes training data endless
        (see `build_dataset`).
        """
        training = split == "train" if training is None else training
        data = self.config.data
        if global_batch_size is not None:
            data = dataclasses.replace(data, global_batch_size=global_batch_size)
        return build_dataset(
            data,
            split,
            vocabulary=self.vocabulary,
            training=training,
            source=self.source,
            input_context=input_context,
            objective=self.config.objective if masks else None,
            image_patch_size=self.config.model.image_patch_size,
            spectrogram_patch_size=self.config.model.spectrogram_patch_size,
            num_parallel_calls=self.config.runtime.num_parallel_calls or None,
            select=label_selection(self.config.task) if training and split == "train" else None,
            repeat=repeat,
        )

    def training_dataset(self, split, input_context=None, global_batch_size=None):
        """Only the numeric features a pretraining step reads (no strings: XLA-safe).

        The "train" split is endless, repeated before its shuffle (see `build_dataset`); the
        trainer repeats only finite data.
        """
        keys = self.feature_keys()
        repeat = split == "train"
        return self.dataset(split, input_context, global_batch_size, repeat=repeat).map(
            lambda batch: {key: batch[key] for key in keys}
        )

    def feature_keys(self):
        keys = []
        for m in self.modalities:
            keys += list(ENCODER_INPUTS[m]) + [f"{m}_present"] + list(_MASK_FEATURES[m])
        if "text" in self.modalities:
            if self.config.objective.hard_negative_words:
                keys += ["negative_token_ids", "negative_valid"]
            if self.config.objective.exchange_negative_words:
                keys += ["exchange_token_ids", "exchange_valid"]
            # Targets and sources of generation tasks.
            for key in self.source.text_features:
                if key in self.config.data.text.extra_text_features:
                    keys += [f"{key}_token_ids", f"{key}_padding_mask"]
        if self.config.task.label_feature:
            keys.append(self.config.task.label_feature)
        return keys


def load_data(config, workdir=None, log=print):
    """Prepares the data of `config` and returns its `ExperimentData`.

    Preparing generates a built-in data set or ingests a manifest (checking every row, see
    docs/manifest.md) and trains the vocabulary; what is prepared already is reused. The
    ingestion report of a manifest (invalid rows, a carved validation split) is logged and,
    with `workdir`, written to `workdir/invalid_records.json`.

    Args:
        config: an `ExperimentConfig`.
        workdir: the run directory (its vocabulary is used, if it has one).
        log: line printer.
    """
    source = prepare_data(config.data, log=log)["source"]
    for split in source.available_splits():
        log(f"  {split:<11} {source.num_examples(split):>7} examples")
    if workdir:
        write_data_report(config, source, workdir)
    if hasattr(source, "validation_report"):
        report = source.validation_report()
        where = ""
        if workdir:
            path = os.path.join(workdir, "invalid_records.json")
            preset_files.write_json(path, report)
            where = f"; report: {path}"
        log(f"  {report['num_invalid']} invalid records skipped{where}")
        for reason, count in sorted(report["counts_by_reason"].items()):
            log(f"    {count} × {reason}")
        if report.get("carved_validation"):
            log(f"  validation split carved from train: {report['carved_validation']}")
    return ExperimentData(config, workdir)


def data_report(config, source):
    """What a run was trained on, as model cards report it: the source, the splits' sizes,
    the modalities, the languages the source declares and its `data_report_entries` (what
    ingestion skipped, held-out pairs, ...)."""
    data = config.data
    report = {
        "source": data.source.value,
        "name": source.name,
        "modalities": [m.value for m in data.modalities],
        "splits": {split: int(source.num_examples(split)) for split in source.available_splits()},
        "text_features": list(source.text_features),
        "languages": dict(source.languages),
    }
    if data.source.value == "manifest":
        report["manifest"] = data.manifest.path
    report.update(source.data_report_entries())
    return report


def write_data_report(config, source, workdir):
    """Writes `data_report` into `workdir/data_report.json`; returns its path."""
    path = os.path.join(workdir, DATA_REPORT)
    preset_files.write_json(path, data_report(config, source))
    return path
