"""The files of a preset directory and the checks every `from_preset` runs before loading.

A preset is a directory holding a trained model and what it needs to read raw inputs:

    metadata.json          format, format version, mmlm version, what the preset holds
    backbone.keras         the `MultimodalBackbone` (Keras file: config and weights)
    preprocessor.json      the `MultimodalPreprocessor` config (text length, image size, audio)
    assets/vocabulary.txt  the WordPiece vocabulary (one token per line), when there is text
    config.yaml            the experiment config that trained it (optional; for reproducing)
    task.json              a task's class and arguments (optional; `Task.save_to_preset`)
    task.weights.h5        that task's weights, backbone included (optional)
    .mmlm-complete.json    every file and its size (`mmlm export --format preset` writes it
                           last; when present, loading checks the files against it)

Loading checks every file it will read first and fails naming all that are missing, so nothing
is half-loaded. saved_models/README.md documents the layout for users.
"""

import json
import os

import mmlm
from mmlm import atomic_files

FORMAT = "mmlm.preset"
FORMAT_VERSION = 1

METADATA = "metadata.json"
BACKBONE = "backbone.keras"
PREPROCESSOR = "preprocessor.json"
VOCABULARY = os.path.join("assets", "vocabulary.txt")
CONFIG = "config.yaml"
TASK = "task.json"
TASK_WEIGHTS = "task.weights.h5"


class PresetError(ValueError):
    """A preset directory that is missing files or was written by an incompatible mmlm."""


def check(preset, files):
    """Checks that `preset` holds `files` and a compatible `metadata.json`; returns the metadata.

    Raises:
        PresetError: naming the preset, every missing file and what each is for, or the
            format version mismatch.
    """
    if not os.path.isdir(preset):
        raise PresetError(f"preset {preset}: no such directory")
    metadata_path = os.path.join(preset, METADATA)
    metadata = read_json(metadata_path, preset) if os.path.isfile(metadata_path) else None
    if metadata is not None:
        _check_format(metadata, preset)
    missing = [
        name for name in (METADATA, *files) if not os.path.isfile(os.path.join(preset, name))
    ]
    if missing:
        raise PresetError(
            f"preset {preset} is incomplete: missing {', '.join(missing)} (a preset is written "
            "by `save_to_preset` or `mmlm export --format preset`; see saved_models/README.md)"
        )
    if os.path.isfile(os.path.join(preset, atomic_files.COMPLETE_MANIFEST)):
        try:  # `mmlm export --format preset` lists its files: check them
            atomic_files.check_complete(preset)
        except atomic_files.IncompleteOutputError as error:
            raise PresetError(f"preset {preset}: {error}") from None
    return metadata


def _check_format(metadata, preset):
    if metadata.get("format") != FORMAT:
        raise PresetError(
            f"preset {preset}: {METADATA} is not an mmlm preset's (format "
            f"{metadata.get('format')!r}, expected {FORMAT!r})"
        )
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise PresetError(
            f"preset {preset} has format version {version} (written by mmlm "
            f"{metadata.get('mmlm_version', '?')}); this mmlm {mmlm.__version__} reads version "
            f"{FORMAT_VERSION} only"
        )


def update_metadata(preset, **fields):
    """Writes `metadata.json`, keeping the fields other writers put there."""
    path = os.path.join(preset, METADATA)
    metadata = read_json(path, preset) if os.path.isfile(path) else {}
    metadata.update(fields)
    metadata.update(format=FORMAT, format_version=FORMAT_VERSION, mmlm_version=mmlm.__version__)
    write_json(path, metadata)
    return metadata


def read_json(path, preset):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise PresetError(
            f"preset {preset}: cannot read {os.path.basename(path)}: {error}"
        ) from error


def write_json(path, value):
    """Writes `value` as JSON to `path` atomically (`mmlm.atomic_files`)."""
    atomic_files.write_json(path, value, indent=1)
