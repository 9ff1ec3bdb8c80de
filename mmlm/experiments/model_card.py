"""Model cards: `MODEL_CARD.md` and its JSON twin beside every model a run exports.

Every number in a card is read from a file the run wrote, never typed: the data report
(`data_report.json`: sources, split sizes, languages), the evaluation (`metrics.json`, the run's
own metrics file; a run without one is "not evaluated"), the preset metadata (parameters) and,
for a compressed variant, its row of the compression report. Subgroup metrics are whatever the
evaluator wrote per subset (seen vs held-out), per class and per language.

Where a card goes (`card_paths`): inside a directory (a SavedModel, a preset, the run's
`model/`), and beside a file (`x.tflite` → `x.tflite.MODEL_CARD.md`, `x.tflite.model_card.json`).
Both files are written atomically (`mmlm.atomic_files`); an export directory gets its card while
it is still being filled (`into`), so the card is in the directory's manifest and is renamed into
place with the model. The card of a file records the file's SHA-256, so a card left from a
previous export (a kill between the model and its card) can be told apart.
"""

import dataclasses
import hashlib
import json
import math
import os

from mmlm import __version__, atomic_files, preset_files
from mmlm.experiments.artifacts import model_dir
from mmlm.experiments.data import DATA_REPORT
from mmlm.experiments.model_card_text import metric_rows, render_markdown, usage_notes

CARD_MARKDOWN = "MODEL_CARD.md"
CARD_JSON = "model_card.json"
METRICS = "metrics.json"

# Where a metric path goes in the card: the first of these keys it contains names its subgroup.
SUBGROUP_KEYS = {
    "subsets": "seen vs held-out",
    "per_class": "per class",
    "per_class_accuracy": "per class",
    "retrieval_by_label": "per class",
    "per_language": "per language",
}


def card_paths(artifact):
    """(markdown path, JSON path) of the card of `artifact` (a directory or a file)."""
    if os.path.isdir(artifact):
        return os.path.join(artifact, CARD_MARKDOWN), os.path.join(artifact, CARD_JSON)
    return f"{artifact}.{CARD_MARKDOWN}", f"{artifact}.{CARD_JSON}"


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def subgroup_of(path):
    """The subgroup kind of a metric path ("seen vs held-out", "per class", ...) or None."""
    for key in path:
        if key in SUBGROUP_KEYS:
            return SUBGROUP_KEYS[key]
    return None


def _read_json(path):
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def evaluation_section(workdir):
    """The card's evaluation: every number of `workdir/metrics.json`, split into the overall
    rows and the subgroup rows, or `status: "not evaluated"` without that file."""
    path = os.path.join(workdir, METRICS)
    metrics = _read_json(path)
    if metrics is None:
        return {"status": "not evaluated", "file": None, "metrics": [], "subgroups": {}}
    overall, subgroups = [], {kind: [] for kind in dict.fromkeys(SUBGROUP_KEYS.values())}
    for name, value in metric_rows(metrics):
        row = {"name": list(name), "value": value}
        kind = subgroup_of(name)
        (subgroups[kind] if kind else overall).append(row)
    return {
        "status": "evaluated",
        "file": os.path.abspath(path),
        "split": metrics.get("split"),
        "metrics": overall,
        "subgroups": subgroups,
        "warnings": list(metrics.get("warnings", [])),
    }


def training_data_section(workdir):
    """The run's `data_report.json`, or a status saying the run has none."""
    report = _read_json(os.path.join(workdir, DATA_REPORT))
    if report is None:
        return {
            "status": f"unknown: the run has no {DATA_REPORT} (written by `mmlm data "
            "generate --workdir` and by training since this card format)"
        }
    return {
        "status": "reported",
        "file": os.path.abspath(os.path.join(workdir, DATA_REPORT)),
        **report,
    }


def model_section(config, workdir):
    """What the model is: the run, its task, modalities, size and architecture settings."""
    metadata = _read_json(os.path.join(model_dir(workdir), preset_files.METADATA)) or {}
    return {
        "name": config.name,
        "run": os.path.abspath(workdir),
        "task": config.task.kind.value,
        "modalities": metadata.get("modalities", [m.value for m in config.data.modalities]),
        "parameters": metadata.get("parameters"),
        "embedding_dim": metadata.get("embedding_dim"),
        "has_decoder": metadata.get("has_decoder"),
        "architecture": _plain(dataclasses.asdict(config.model)),
        "mmlm_version": __version__,
    }


def inputs_section(config, modalities):
    """What the model takes of each input and the limits applied before it (from the config)."""
    data, inputs = config.data, {}
    if "text" in modalities:
        inputs["text"] = {
            "tokens": data.text.sequence_length,
            "max_bytes": data.text.max_bytes,
            "lowercase": data.text.lowercase,
        }
    if "image" in modalities:
        inputs["image"] = {"side": data.image.image_size, "max_pixels": data.image.max_pixels}
    if "audio" in modalities:
        inputs["audio"] = {
            "sample_rate": data.audio.sample_rate,
            "window_seconds": data.audio.duration_seconds,
            "max_seconds": data.audio.max_seconds,
        }
    return inputs


def build_model_card(config, workdir, artifact, fmt, measurements=None):
    """The card (a JSON-serializable dict) of `artifact`, exported from the run `workdir`.

    Args:
        config: the run's `ExperimentConfig`.
        workdir: the run directory (its data report, metrics and preset metadata are read).
        artifact: the exported file or directory (a file's SHA-256 goes into the card).
        fmt: "savedmodel", "tflite", "preset" or "run model".
        measurements: numbers measured on the artifact itself (a compression report's row).
    """
    evaluation = evaluation_section(workdir)
    data = training_data_section(workdir)
    model = model_section(config, workdir)
    card = {
        "model_card_format": 1,
        "model": model,
        "artifact": {"path": os.path.abspath(artifact), "format": fmt},
        "inputs": inputs_section(config, model["modalities"]),
        "training_data": data,
        "evaluation": evaluation,
    }
    if os.path.isfile(artifact):
        card["artifact"]["sha256"] = _sha256(artifact)
    if measurements:
        card["artifact"]["measurements"] = _plain(measurements)
    card.update(usage_notes(card))
    return card


def write_model_card(config, workdir, artifact, fmt, measurements=None, log=print, into=None):
    """Writes the card of `artifact` (`card_paths`); returns (markdown path, JSON path).

    Each file is written atomically (a crash or a full disk leaves the previous card file), both
    rendered before either is written. `into`: the directory being filled that becomes
    `artifact` (`atomic_files.replaced_directory`), where the card goes instead; the card still
    names `artifact`.
    """
    card = build_model_card(config, workdir, artifact, fmt, measurements)
    markdown = render_markdown(card)
    markdown_path, json_path = card_paths(into or artifact)
    atomic_files.write_json(json_path, card, indent=1)
    atomic_files.write_text(markdown_path, markdown)
    if into is not None:  # where the card is once `into` is renamed to `artifact`
        markdown_path, json_path = (os.path.join(artifact, n) for n in (CARD_MARKDOWN, CARD_JSON))
    log(f"model card written to {markdown_path} (+ {os.path.basename(json_path)})")
    return markdown_path, json_path


def _plain(value):
    """Enums as their values, tuples as lists, non-finite floats as strings (valid JSON)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "value") and not isinstance(value, (int, float, str)):
        return value.value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
