"""`mmlm evaluate` end to end on a tiny labelled manifest (an untrained backbone: the metrics'
presence and bookkeeping are checked, not their values), its flags and its bad-input errors."""

import dataclasses
import json
import os

import pytest
import yaml
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mmlm.backend import tf
from mmlm.cli.main import main
from mmlm.config import (
    DataSource,
    EvaluationConfig,
    ManifestConfig,
    Modality,
    load_config,
    write_config,
)
from mmlm.experiments.artifacts import load_backbone
from mmlm.testing.data import smoke_config

COLOURS = {"red": (220, 30, 30), "blue": (30, 70, 220), "green": (30, 150, 50)}
# Test rows: (label, caption); "a red box" repeats, one row has no label.
TEST_ROWS = [
    ("red", "a red box"),
    ("red", "a red box"),
    ("red", "a red box"),
    ("blue", "a blue box"),
    ("blue", "a blue square"),
    ("green", "a green box"),
    ("", "a green square"),
]


def _manifest(folder):
    for name, rgb in COLOURS.items():
        Image.new("RGB", (24, 24), rgb).save(folder / f"{name}.png")
    rows = [
        {"text": f"a {name} box", "image": f"{name}.png", "label": name, "split": "train"}
        for name in COLOURS
        for _ in range(2)
    ]
    for label, caption in TEST_ROWS:
        colour = label or "green"
        rows.append({"text": caption, "image": f"{colour}.png", "label": label, "split": "test"})
    path = folder / "manifest.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run directory with the resolved config and an untrained backbone saved in it."""
    from mmlm.data.prepare import load_prepared, prepare_data
    from mmlm.experiments.artifacts import save_backbone
    from mmlm.tasks.builders import build_backbone

    folder = tmp_path_factory.mktemp("evaluate")
    config = smoke_config(str(folder / "data"))
    data = dataclasses.replace(
        config.data,
        source=DataSource.MANIFEST,
        manifest=ManifestConfig(path=str(_manifest(folder))),
        modalities=(Modality.TEXT, Modality.IMAGE),
    )
    config = dataclasses.replace(config, data=data)
    prepare_data(config.data, log=lambda *_: None)
    _, vocabulary = load_prepared(config.data)
    workdir = str(folder / "run")
    save_backbone(build_backbone(config, len(vocabulary)), workdir)
    return workdir, write_config(config, workdir)


def _evaluate(run, tmp_path, *flags):
    workdir, config_path = run
    json_path = str(tmp_path / "metrics.json")
    status = main(["evaluate", "--config", config_path, "--workdir", workdir, "--json", json_path,
                   *flags])  # fmt: skip
    if status:
        return status, None
    with open(json_path) as f:
        return status, json.load(f)


def test_retrieval_controls_duplicates_and_zero_shot_from_labels(run, tmp_path, capsys):
    status, metrics = _evaluate(run, tmp_path, "--prompt", "a {} box", "--prompt", "{}")
    assert status == 0
    table = capsys.readouterr().out
    for row in ("text_to_image", "duplicate-aware", "strict R@1 ceiling", "shuffled pairs"):
        assert row in table, row
    assert "zero-shot label_from_image: accuracy" in table
    assert "warning: Not scored: 1 example without a label." in table

    assert metrics["num_examples"] == 7
    assert metrics["captions"] == {"num_with_caption": 7, "num_distinct": 5}
    text_to_image = metrics["retrieval"]["text_to_image"]
    assert text_to_image["num_distinct_captions"] == 5
    assert text_to_image["strict_R@1_ceiling"] == pytest.approx((3 * (1 / 3) + 4) / 7)
    assert {"chance", "shuffled"} == set(text_to_image["control"])
    assert text_to_image["control"]["chance"]["R@1"] == pytest.approx(1 / 7)

    result = metrics["zero_shot"]["label_from_image"]
    assert result["class_names"] == ["blue", "green", "red"]
    assert result["prompts"] == ["a {} box", "{}"]
    assert result["num_examples"] == 6
    assert result["num_unscored"] == {"unlabelled": 1, "unlisted": {}}
    assert result["majority_baseline"] == pytest.approx(0.5)
    assert result["chance"] == pytest.approx(1 / 3)
    png = result["confusion_matrix_png"]
    assert png == str(tmp_path / "metrics_label_from_image_confusion.png")
    assert os.path.getsize(png) > 1000

    # Retrieval per label (model cards' per-class rows): each class's queries, the unlabelled
    # row left out, ranked among all 7 candidates.
    by_label = metrics["retrieval_by_label"]["text_to_image"]
    assert {name: row["num_queries"] for name, row in by_label.items()} == {
        "blue": 2, "green": 1, "red": 3}  # fmt: skip
    assert set(by_label["red"]) >= {"R@1", "R@5", "num_queries"}

    # The fusion's attention maps of the first test examples, as TensorBoard images.
    accumulator = EventAccumulator(os.path.join(run[0], "tensorboard", "evaluate_test"))
    accumulator.Reload()
    fusion = load_backbone(run[0]).fusion_encoder
    assert set(accumulator.Tags()["tensors"]) == {
        f"attention/layer_{layer}/{m}/head_{head}"
        for layer in range(fusion.num_layers)
        for m in ("text", "image")
        for head in range(fusion.num_heads)
    }
    (event,) = accumulator.Tensors("attention/layer_0/text/head_0")
    width, height, *pngs = tf.make_ndarray(event.tensor_proto)
    assert len(pngs) == 3
    assert tf.io.decode_png(pngs[0]).shape == (int(height), int(width), 1)


def test_class_names_from_a_file_warn_about_absent_and_unlisted(run, tmp_path, capsys):
    names = tmp_path / "classes.txt"
    names.write_text("red\n\nblue\npurple\n")
    status, metrics = _evaluate(run, tmp_path, "--class-names", f"@{names}")
    assert status == 0
    result = metrics["zero_shot"]["label_from_image"]
    assert result["class_names"] == ["red", "blue", "purple"]
    assert result["prompts"] == ["{}"]  # class names alone: the bare name
    assert result["num_unscored"]["unlisted"] == {"green": 1}
    warnings = "\n".join(metrics["warnings"])
    assert "['purple']" in warnings and "'green': 1" in warnings
    assert "['purple']" in capsys.readouterr().out


def test_bad_input_exits_with_a_message(run, tmp_path, capsys):
    assert _evaluate(run, tmp_path, "--class-names", "red")[0] == 2
    assert "at least 2 class names" in capsys.readouterr().err
    assert _evaluate(run, tmp_path, "--prompt", "a picture")[0] == 2
    assert "'a picture' must contain exactly one '{}'" in capsys.readouterr().err
    assert _evaluate(run, tmp_path, "--class-names", "red,blue", "--set",
                     "evaluation.label_feature=species")[0] == 2  # fmt: skip
    assert "no label feature 'species'" in capsys.readouterr().err


def test_a_run_config_without_the_evaluation_section_loads(tmp_path):
    config_path = write_config(smoke_config(str(tmp_path / "data")), str(tmp_path / "run"))
    with open(config_path) as f:
        values = yaml.safe_load(f)
    del values["evaluation"]  # as written before the section existed
    old = tmp_path / "config.yaml"
    old.write_text(yaml.safe_dump(values))
    assert load_config(str(old)).evaluation == EvaluationConfig()
    assert EvaluationConfig().zero_shot_templates() == ()  # zero-shot off by default
    config = load_config(str(old), ["evaluation.class_names=cat,dog"])
    assert config.evaluation.zero_shot_templates() == ("{}",)
    config = load_config(str(old), ["evaluation.prompts=a {} box,{}"])
    assert config.evaluation.zero_shot_templates() == ("a {} box", "{}")
