"""Model cards: every number equals the run's files (metrics.json, data_report.json), cards are
written beside every export, and a run without metrics says "not evaluated"."""

import hashlib
import json
import os
import re

import pytest

from mmlm import atomic_files
from mmlm.cli.main import main
from mmlm.experiments.model_card import card_paths, write_model_card
from mmlm.testing import faults
from mmlm.testing.data import smoke_config, untrained_scenes_run

METRICS = {
    "split": "test",
    "workdir": "/somewhere",
    "num_examples": 40,
    "retrieval": {
        "text_to_image": {
            "R@1": 0.625, "R@5": 0.9, "num_queries": 40, "median_rank": 1.0,
            "subsets": {"seen": {"R@1": 0.7, "num_queries": 30},
                        "heldout": {"R@1": 0.4, "num_queries": 10}},
            "control": {"chance": {"R@1": 0.025}, "shuffled": {"R@1": 0.05}},
        }
    },
    "retrieval_by_label": {"text_to_image": {"red": {"R@1": 0.8, "num_queries": 20},
                                             "blue": {"R@1": 0.45, "num_queries": 20}}},
    "zero_shot": {"label_from_image": {
        "accuracy": 0.55, "chance": 0.5, "macro_f1": 0.5123456, "num_examples": 40,
        "per_class_accuracy": {"red": 0.9, "blue": 0.2},
        "confusion_matrix": [[18, 2], [16, 4]], "class_names": ["blue", "red"]}},
    "per_language": {"es": {"text_to_image": {"R@1": 0.05, "num_queries": 40}}},
    "perplexity": 12.3456789,
    "warnings": ["Not scored: 1 example without a label."],
}  # fmt: skip
DATA_REPORT = {
    "source": "scenes",
    "name": "scenes-x",
    "modalities": ["text", "image"],
    "splits": {"train": 200, "validation": 25, "test": 50},
    "text_features": ["text", "text_es"],
    "languages": {"text": "en", "text_es": "es"},
    "heldout_combinations": [["red", "circle"]],
}


def _leaves(value, path=()):
    """Every number of a JSON value, by path (an independent walk of the metrics file)."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _leaves(item, (*path, key)).items()}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {path: value}
    return {}


def _markdown_numbers(markdown):
    """{metric name: printed value} of the `| metric | value |` tables of the card's
    evaluation and subgroup sections."""
    evaluation = markdown[markdown.index("## Evaluation") : markdown.index("## Intended use")]
    return dict(re.findall(r"^\| ([^|]+ / [^|]+|[a-z_@0-9]+) \| ([-0-9.]+) \|$", evaluation, re.M))


def _run(tmp_path, metrics=METRICS):
    workdir = tmp_path / "run"
    (workdir / "model").mkdir(parents=True)
    (workdir / "data_report.json").write_text(json.dumps(DATA_REPORT))
    (workdir / "model" / "metadata.json").write_text(
        json.dumps(
            {
                "modalities": ["text", "image"],
                "parameters": 12345,
                "embedding_dim": 8,
                "has_decoder": True,
            }
        )  # fmt: skip
    )
    if metrics is not None:
        (workdir / "metrics.json").write_text(json.dumps(metrics))
    return str(workdir)


def test_every_number_of_the_card_is_the_metrics_files(tmp_path):
    workdir = _run(tmp_path)
    artifact = tmp_path / "saved_model"
    artifact.mkdir()
    markdown_path, json_path = write_model_card(
        smoke_config(), workdir, str(artifact), "savedmodel", log=lambda *_: None
    )
    assert (markdown_path, json_path) == (
        str(artifact / "MODEL_CARD.md"), str(artifact / "model_card.json"))  # fmt: skip
    card = json.loads(open(json_path).read())
    evaluation = card["evaluation"]
    rows = evaluation["metrics"] + [r for g in evaluation["subgroups"].values() for r in g]
    in_card = {tuple(row["name"]): row["value"] for row in rows}
    expected = {path: value for path, value in _leaves(METRICS).items()
                if "confusion_matrix" not in path}  # fmt: skip
    assert in_card == expected  # every number, nothing added or left out
    assert {tuple(r["name"]) for r in evaluation["subgroups"]["seen vs held-out"]} == {
        ("retrieval", "text_to_image", "subsets", s, k)
        for s in ("seen", "heldout") for k in ("R@1", "num_queries")}  # fmt: skip
    assert len(evaluation["subgroups"]["per class"]) == 6
    assert [r["name"] for r in evaluation["subgroups"]["per language"]] == [
        ["per_language", "es", "text_to_image", "R@1"],
        ["per_language", "es", "text_to_image", "num_queries"]]  # fmt: skip

    markdown = open(markdown_path).read()
    printed = _markdown_numbers(markdown)
    assert len(printed) == len(expected)
    for path, value in expected.items():
        assert float(printed[" / ".join(path)]) == pytest.approx(value, abs=5e-5), path
    assert "| perplexity | 12.3457 |" in markdown
    assert "### per language" in markdown
    assert "Text in es retrieves worse: text_to_image R@1 0.0500 vs 0.6250 in en." in (
        card["failure_modes"])  # fmt: skip
    # Training data and the failure modes come from the same files.
    assert card["training_data"]["splits"] == DATA_REPORT["splits"]
    assert "| train | 200 |" in markdown and "| text_es | es |" in markdown
    assert "Held-out combinations score lower: retrieval / text_to_image R@1 0.4000 vs " \
           "0.7000 on seen ones." in card["failure_modes"]  # fmt: skip
    assert "Weakest classes by zero_shot / label_from_image / per_class_accuracy: blue 0.2000, " \
           "red 0.9000." in card["failure_modes"]  # fmt: skip
    assert "Weakest classes by retrieval_by_label / text_to_image / R@1: blue 0.4500, red " \
           "0.8000." in card["failure_modes"]  # fmt: skip
    assert "Languages in the data: en, es; no other language was trained on or measured." in (
        card["limitations"])  # fmt: skip
    # The input limits come from the config, for the model's modalities only.
    data = smoke_config().data
    assert card["inputs"] == {
        "text": {"tokens": data.text.sequence_length, "max_bytes": data.text.max_bytes,
                 "lowercase": data.text.lowercase},
        "image": {"side": data.image.image_size, "max_pixels": data.image.max_pixels},
    }  # fmt: skip
    assert f"| image | max_pixels | {data.image.max_pixels} |" in markdown
    assert (f"Text: only the first {data.text.sequence_length - 2} tokens are read (longer text "
            f"is truncated); text over {data.text.max_bytes:,} UTF-8 bytes is refused."
            in card["limitations"])  # fmt: skip
    assert not any(note.startswith("Audio") for note in card["limitations"])


def test_a_run_without_metrics_is_not_evaluated_and_a_file_gets_its_card_beside_it(tmp_path):
    workdir = _run(tmp_path, metrics=None)
    tflite = tmp_path / "model.tflite"
    tflite.write_bytes(b"x")
    markdown_path, json_path = write_model_card(
        smoke_config(), workdir, str(tflite), "tflite", {"quantize": "int8"}, lambda *_: None
    )
    assert card_paths(str(tflite)) == (markdown_path, json_path)
    assert markdown_path == str(tflite) + ".MODEL_CARD.md"
    card = json.loads(open(json_path).read())
    assert card["evaluation"]["status"] == "not evaluated"
    assert card["artifact"]["measurements"] == {"quantize": "int8"}
    markdown = open(markdown_path).read()
    assert "Not evaluated: the run has no `metrics.json`." in markdown
    assert "| quantize | int8 |" in markdown
    assert card["failure_modes"] == ["Unknown: not evaluated."]


def test_compress_writes_each_variant_a_card_with_its_own_measurements(tmp_path):
    from mmlm.experiments.compress import write_variant_cards

    workdir = _run(tmp_path)
    rows = []
    for name, size in (("float32", 4000), ("full_int8", 1000)):
        path = tmp_path / f"{name}.tflite"
        path.write_bytes(b"x")
        rows.append({"variant": name, "path": str(path), "quantize": name, "size_bytes": size,
                     "gzip_bytes": size // 2, "latency_ms": {"embed_text": 0.5, "total": 1.5},
                     "R@1": {"text_to_image": 0.5}, "R@1_change": {"text_to_image": -0.01},
                     "speedup": 1.0})  # fmt: skip
    write_variant_cards(smoke_config(), workdir, rows, log=lambda *_: None)
    for row in rows:
        card = json.loads(open(row["path"] + ".model_card.json").read())
        measured = card["artifact"]["measurements"]
        assert measured["size_bytes"] == row["size_bytes"]
        assert measured["R@1_change"] == row["R@1_change"]
        markdown = open(row["path"] + ".MODEL_CARD.md").read()
        assert f"| size_bytes | {row['size_bytes']} |" in markdown
        assert "| R@1_change / text_to_image | -0.0100 |" in markdown
        assert card["evaluation"]["status"] == "evaluated"  # the run's metrics, as well


def _export_directory(config, workdir, out, model):
    """What `export` does for a SavedModel or a preset: fill, card inside, rename into place."""
    with atomic_files.replaced_directory(out) as partial:
        atomic_files.write_text(os.path.join(partial, "saved_model.pb"), model)
        write_model_card(config, workdir, out, "savedmodel", log=lambda *_: None, into=partial)


# A kill half-way through the card's Markdown, one before its JSON is renamed, a full disk.
CARD_FAULTS = ["write:*MODEL_CARD.md", "replace:*model_card.json", "disk full"]


@pytest.mark.parametrize("fault", CARD_FAULTS)
def test_a_fault_writing_the_card_keeps_the_previous_export_and_its_card(
    tmp_path, monkeypatch, fault
):
    workdir, config = _run(tmp_path), smoke_config()
    out = str(tmp_path / "exports" / "1")
    _export_directory(config, workdir, out, "old model")
    old = faults.folder_contents(out)
    assert {"MODEL_CARD.md", "model_card.json"} <= set(json.loads(old[".mmlm-complete.json"])[
        "files"])  # fmt: skip
    assert json.loads(old["model_card.json"])["artifact"]["path"] == out  # not the partial's
    (tmp_path / "run" / "metrics.json").write_text(json.dumps({**METRICS, "perplexity": 99.0}))
    if fault == "disk full":
        faults.inject_disk_full(monkeypatch)
    else:
        faults.crash_at(monkeypatch, fault)
    with pytest.raises(atomic_files.DiskFullError if fault == "disk full" else faults.Crash):
        _export_directory(config, workdir, out, "new model")
    assert faults.folder_contents(out) == old  # model, card and manifest: all the previous export's
    atomic_files.check_complete(out)
    monkeypatch.undo()
    _export_directory(config, workdir, out, "new model")  # the same command, again
    card = json.loads(faults.folder_contents(out)["model_card.json"])
    assert {r["value"] for r in card["evaluation"]["metrics"]} >= {99.0}
    assert sorted(os.listdir(os.path.dirname(out))) == ["1"]  # nothing half-written left


@pytest.mark.parametrize("fault", CARD_FAULTS)
def test_a_fault_writing_a_files_card_leaves_whole_card_files(tmp_path, monkeypatch, fault):
    workdir, config = _run(tmp_path), smoke_config()
    tflite = tmp_path / "model.tflite"
    tflite.write_bytes(b"old model")
    write_model_card(config, workdir, str(tflite), "tflite", log=lambda *_: None)
    old = faults.folder_contents(tmp_path)
    old_card = json.loads(old["model.tflite.model_card.json"])
    assert old_card["artifact"]["sha256"] == hashlib.sha256(b"old model").hexdigest()
    tflite.write_bytes(b"new model")
    if fault == "disk full":
        faults.inject_disk_full(monkeypatch)
    else:
        faults.crash_at(monkeypatch, fault)
    with pytest.raises(atomic_files.DiskFullError if fault == "disk full" else faults.Crash):
        write_model_card(config, workdir, str(tflite), "tflite", log=lambda *_: None)
    now = faults.folder_contents(tmp_path)
    assert set(now) == set(old)  # no partial file left under any name
    assert now["model.tflite.MODEL_CARD.md"] == old["model.tflite.MODEL_CARD.md"]
    card = json.loads(now["model.tflite.model_card.json"])  # whole: it parses
    # Each file is written atomically, not the pair: killed between the two, the JSON is the
    # new card; its SHA-256 says which model it describes.
    new = fault.startswith("write:")
    assert (
        card["artifact"]["sha256"]
        == hashlib.sha256(b"new model" if new else b"old model").hexdigest()
    )
    assert (card == old_card) is not new


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from mmlm.experiments.data import load_data

    config, workdir = untrained_scenes_run(str(tmp_path_factory.mktemp("card") / "run"))
    load_data(config, workdir, log=lambda *_: None)  # writes the data report
    return config, workdir


@pytest.mark.slow  # evaluates and exports a model: about 40 s on a shared 2-core machine
def test_evaluate_then_export_a_preset_carries_the_evaluators_numbers(run, tmp_path):
    config, workdir = run
    metrics_path = os.path.join(workdir, "metrics.json")
    assert main(["evaluate", "--workdir", workdir, "--json", metrics_path]) == 0
    out = str(tmp_path / "preset")
    assert main(["export", "--workdir", workdir, "--format", "preset", "--out", out]) == 0
    metrics = json.loads(open(metrics_path).read())
    expected = {p: v for p, v in _leaves(metrics).items() if "confusion_matrix" not in p}
    for card_dir in (out, os.path.join(workdir, "model")):  # the export's and the run's
        card = json.loads(open(os.path.join(card_dir, "model_card.json")).read())
        rows = card["evaluation"]["metrics"]
        rows += [r for group in card["evaluation"]["subgroups"].values() for r in group]
        assert {tuple(r["name"]): r["value"] for r in rows} == expected
        printed = _markdown_numbers(open(os.path.join(card_dir, "MODEL_CARD.md")).read())
        for path, value in expected.items():
            assert float(printed[" / ".join(path)]) == pytest.approx(value, abs=5e-5), path
    assert card["training_data"]["splits"] == {"train": 24, "validation": 8, "test": 16}
    assert card["training_data"]["languages"]["text"] == "en"
    subsets = card["evaluation"]["subgroups"]["seen vs held-out"]
    assert {r["name"][3] for r in subsets} == {"seen", "heldout"}  # the scenes' held-out pairs
