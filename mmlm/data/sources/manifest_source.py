"""The user's manifest (docs/manifest.md) ingested into a TFDS data set, as a `Source`.

Ingestion decodes, validates and converts every row once (images to RGB at the configured
size, audio to mono int16 at the configured rate); training then reads TFRecords in-graph like
any other source. Absent modalities are stored empty, so no placeholder pixels or samples exist.
"""

import collections
import dataclasses
import hashlib
import json
import os
import shutil

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from mmlm.data.media_checks import MediaLimits
from mmlm.data.sources import manifest as manifest_lib
from mmlm.data.sources.source import Source
from mmlm.data.validation_report import ValidationReport, write_report_json

REPORT_FILENAME = "invalid_records.json"


class ManifestBuilderConfig(tfds.core.BuilderConfig):
    """One ingestion of one manifest file (its bytes and the conversion settings name it)."""

    def __init__(
        self,
        *,
        manifest_path,
        image_size,
        sample_rate,
        skip_invalid,
        validation_fraction=0.0,
        seed=0,
        limits=None,
        **kwargs,
    ):
        self.manifest_path = os.path.abspath(manifest_path)
        self.image_size = image_size
        self.sample_rate = sample_rate
        self.skip_invalid = skip_invalid
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.limits = limits or MediaLimits()
        with open(self.manifest_path, "rb") as f:
            digest = hashlib.sha1(f.read())
        settings = [self.manifest_path, image_size, sample_rate, skip_invalid]
        if validation_fraction:  # (older ingestions keep their names)
            settings += [validation_fraction, seed]
        if self.limits != MediaLimits():  # other limits keep other rows
            settings += [list(dataclasses.astuple(self.limits))]
        digest.update(json.dumps(settings).encode())
        stem = os.path.splitext(os.path.basename(manifest_path))[0]
        safe_stem = "".join(c if c.isalnum() else "_" for c in stem)
        super().__init__(name=f"{safe_stem}_{digest.hexdigest()[:10]}", **kwargs)


class ManifestDataset(tfds.core.GeneratorBasedBuilder):
    """TFDS builder over a manifest; the validation report of the last ingestion is kept."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIG_CLASS = ManifestBuilderConfig

    def _info(self):
        return self.dataset_info_from_configs(
            description=f"Ingested from {self.builder_config.manifest_path}",
            features=tfds.features.FeaturesDict(
                {
                    "id": tfds.features.Text(),
                    "text": tfds.features.Text(doc="caption; empty when the row has none"),
                    "image": tfds.features.Tensor(
                        shape=(None, None, 3),
                        dtype=np.uint8,
                        encoding=tfds.features.Encoding.ZLIB,
                        doc="RGB at the configured size; (0, 0, 3) when the row has none",
                    ),
                    "audio": tfds.features.Tensor(
                        shape=(None,),
                        dtype=np.int16,
                        encoding=tfds.features.Encoding.ZLIB,
                        doc="mono int16 PCM at the configured rate; empty when the row has none",
                    ),
                    "label": tfds.features.Text(doc="class name; empty when the row has none"),
                }
            ),
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        c = self.builder_config
        self.validation_report = ValidationReport()
        by_split = collections.defaultdict(list)
        for key, example in manifest_lib.read_manifest(
            c.manifest_path,
            image_size=c.image_size,
            sample_rate=c.sample_rate,
            skip_invalid=c.skip_invalid,
            report=self.validation_report,
            limits=c.limits,
        ):
            by_split[example["split"]].append((key, example))
        if not by_split:
            raise ValueError(f"manifest {c.manifest_path}: no valid rows to ingest")
        if "validation" not in by_split and c.validation_fraction > 0:
            self.validation_report.carved_validation = carve_validation(
                by_split, c.validation_fraction, c.seed
            )
        return {split: self._generate_examples(rows) for split, rows in by_split.items()}

    def _generate_examples(self, rows):
        for key, example in rows:
            yield (
                key,
                {
                    "id": example["id"],
                    "text": example["text"],
                    "image": np.zeros((0, 0, 3), np.uint8)
                    if example["image"] is None
                    else example["image"],
                    "audio": np.zeros((0,), np.int16)
                    if example["audio"] is None
                    else example["audio"],
                    "label": example["label"],
                },
            )


def carve_validation(by_split, fraction, seed):
    """Moves a seeded `fraction` of the train rows to a new validation split; says what moved.

    For manifests without validation rows: training then still has data to validate on, and
    the test split is left alone. At least one row moves, and at least one stays in train.
    """
    train = by_split.get("train", [])
    count = min(max(1, round(fraction * len(train))), len(train) - 1)
    if count < 1:
        return {"count": 0, "reason": f"train has {len(train)} row(s): nothing to carve"}
    chosen = set(np.random.default_rng(seed).permutation(len(train))[:count].tolist())
    by_split["validation"] = [row for i, row in enumerate(train) if i in chosen]
    by_split["train"] = [row for i, row in enumerate(train) if i not in chosen]
    return {"count": count, "fraction": fraction, "seed": seed, "train_left": len(train) - count}


class ManifestSource(Source):
    """A manifest ingested into `data_dir` (see docs/manifest.md).

    Args:
        manifest_path: the JSONL or CSV manifest.
        data_dir: TFDS data directory.
        **settings: the ingestion's settings, keyword arguments of `ManifestBuilderConfig`:
            image_size, sample_rate (conversion targets), skip_invalid (skip, count and report
            invalid rows instead of failing on the first), validation_fraction (when the
            manifest has no validation rows, this share of the train rows, seeded, becomes the
            validation split; 0: none), seed (of that choice), limits (`MediaLimits` past
            which a row is invalid; None: the defaults).
    """

    def __init__(self, manifest_path, data_dir, **settings):
        if not manifest_path:
            raise ValueError("data.source=manifest needs data.manifest.path")
        if not os.path.isfile(manifest_path):
            raise FileNotFoundError(f"data.manifest.path: no such file {manifest_path}")
        config = ManifestBuilderConfig(manifest_path=manifest_path, **settings)
        self._data_dir = os.path.abspath(data_dir)
        builder = ManifestDataset(config=config, data_dir=self._data_dir)
        super().__init__(f"manifest-{config.name}", builder)
        columns = manifest_lib.manifest_columns(manifest_path)
        self.modalities = tuple(m for m in ("text", "image", "audio") if m in columns)

    @classmethod
    def from_config(cls, config):
        """The source of a `DataConfig` (`data.source=manifest`)."""
        return cls(
            config.manifest.path,
            config.data_dir,
            image_size=config.image.image_size,
            sample_rate=config.audio.sample_rate,
            skip_invalid=config.skip_invalid,
            validation_fraction=config.manifest.validation_fraction,
            seed=config.seed,
            limits=MediaLimits.from_config(config),
        )

    def _report_path(self):
        return os.path.join(self.builder.data_dir, REPORT_FILENAME)

    def is_prepared(self):
        """The ingested data and its report both exist (the report is written second)."""
        return self.builder.is_prepared() and os.path.isfile(self._report_path())

    def prepare(self):
        if self.is_prepared():
            return
        if self.builder.is_prepared():
            # Ingested, but the process ended before the report was written: ingest again,
            # since the report (which rows were skipped and why) comes from reading the rows.
            # A new builder: this one's info was read from the removed files (TFDS would write
            # it back, e.g. an empty metadata.json a fresh ingestion does not have).
            shutil.rmtree(self.builder.data_dir)
            self.builder = ManifestDataset(
                config=self.builder.builder_config, data_dir=self._data_dir
            )
        self.builder.download_and_prepare()
        self.builder.validation_report.to_json(self._report_path())

    def validation_report(self):
        """The ingestion's report as a dict (counts per reason and every invalid record)."""
        with open(self._report_path(), encoding="utf-8") as f:
            return json.load(f)

    def data_report_entries(self):
        ingestion = self.validation_report()
        keys = (
            "num_rows",
            "num_valid",
            "num_invalid",
            "counts_by_reason",
            "carved_validation",
            "text_truncation",
        )
        return {"ingestion": {key: ingestion.get(key) for key in keys}}

    def text_truncation(self):
        """The report's count of truncated captions (`record_text_truncation`), or None."""
        return self.validation_report().get("text_truncation")

    def record_text_truncation(self, truncation):
        """Adds `truncation` (`mmlm.data.text_truncation.count_truncated_texts`, counted once the
        vocabulary exists) to the ingestion's report."""
        report = self.validation_report()
        report["text_truncation"] = truncation
        write_report_json(report, self._report_path())

    def missing_split_hint(self, split):
        return (
            f'give some rows of {self.builder.builder_config.manifest_path} "split": '
            f'"{split}" (docs/manifest.md), or evaluate another split with --split'
        )

    def standardize(self, example):
        return {
            "text": example["text"],
            "text_present": tf.strings.length(example["text"]) > 0,
            "image": example["image"],
            "image_present": tf.size(example["image"]) > 0,
            "audio": example["audio"],
            "audio_present": tf.size(example["audio"]) > 0,
            "label": example["label"],
            "id": example["id"],
        }
