"""End to end: `mmlm pretrain` + `mmlm evaluate` on the smoke scenes, TensorBoard contents."""

import contextlib
import glob
import io
import json
import os

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator

from mmlm.cli.main import main
from mmlm.testing.data import prepared_smoke_scenes

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs")
CONFIG = os.path.join(CONFIGS, "scenes.py") + ":smoke"
DIRECTIONS = (
    "text_to_image",
    "image_to_text",
    "text_to_audio",
    "audio_to_text",
    "image_to_audio",
    "audio_to_image",
)


def _tags(directory):
    tags = set()
    for path in glob.glob(os.path.join(directory, "**", "events.out.tfevents.*"), recursive=True):
        accumulator = event_accumulator.EventAccumulator(path, size_guidance={"tensors": 0})
        accumulator.Reload()
        for kind in ("tensors", "scalars", "images", "audio"):
            tags.update(f"{kind}:{tag}" for tag in accumulator.Tags().get(kind, []))
    return tags


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A smoke pretraining run: (workdir, the common arguments, what pretrain printed)."""
    config, _, _ = prepared_smoke_scenes()
    workdir = str(tmp_path_factory.mktemp("pretrain") / "run")
    common = ["--config", CONFIG, "--set", f"data.data_dir={config.data.data_dir}"]
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert main(["pretrain", *common, "--workdir", workdir]) == 0
    return workdir, common, output.getvalue()


def test_pretrain_evaluate_and_tensorboard(pretrained, tmp_path, capsys):
    workdir, common, printed = pretrained
    assert os.path.isfile(os.path.join(workdir, "model", "backbone.keras"))
    metrics_path = str(tmp_path / "metrics.json")
    assert "train GFLOPs" in printed  # the model summary at the start
    assert main(["evaluate", *common, "--workdir", workdir, "--json", metrics_path]) == 0
    table = capsys.readouterr().out
    assert "text_to_image" in table and "heldout" in table
    with open(metrics_path) as f:
        metrics = json.load(f)
    assert metrics["num_examples"] == 16
    assert set(metrics["retrieval"]) == set(DIRECTIONS)
    for values in metrics["retrieval"].values():
        assert {"R@1", "R@5", "R@10"} <= set(values)
        assert 0.0 <= values["R@1"] <= values["R@5"] <= values["R@10"] <= 1.0
        assert set(values["subsets"]) == {"seen", "heldout"}
    assert 1.0 < metrics["perplexity"] < 1000.0
    assert {"color_from_image", "color_from_audio", "position_from_image"} <= set(
        metrics["zero_shot"]
    )

    tags = _tags(os.path.join(workdir, "tensorboard"))
    for tag in ("learning_rate", "grad_norm", "temperature", "contrastive_loss", "masked_lm_loss"):
        assert any(t.endswith(tag) for t in tags), (tag, sorted(tags))
    assert any("examples_per_second" in t for t in tags), sorted(tags)
    assert any("retrieval/text_to_image/R@1" in t for t in tags), sorted(tags)
    assert any(t.startswith("images:") or "inputs/images" in t for t in tags), sorted(tags)
    assert any("inputs/audio" in t for t in tags), sorted(tags)
    # The fusion's cross-attention maps at each evaluation (docs/tasks.md).
    assert "tensors:attention/layer_0/text/head_0" in tags, sorted(tags)
    # The run's data report and its model card (not evaluated: metrics went to tmp_path).
    with open(os.path.join(workdir, "data_report.json")) as f:
        assert json.load(f)["splits"] == {"train": 24, "validation": 8, "test": 16}
    with open(os.path.join(workdir, "model", "model_card.json")) as f:
        card = json.load(f)
    assert card["evaluation"]["status"] == "not evaluated"
    assert card["training_data"]["splits"]["train"] == 24
    assert os.path.isfile(os.path.join(workdir, "model", "MODEL_CARD.md"))
    projector = os.path.join(workdir, "tensorboard", "projector", "projector_config.pbtxt")
    with open(projector) as f:
        assert "text_embeddings" in f.read()
    assert glob.glob(os.path.join(workdir, "tensorboard", "**", "*hparams*"), recursive=True) or (
        any("_hparams_" in t for t in tags)
    )

    # Rerunning a finished run restores it and trains nothing more.
    capsys.readouterr()
    assert main(["pretrain", *common, "--workdir", workdir]) == 0
    assert "Already finished at step 4" in capsys.readouterr().out

    # Generation from files of the test split, with each decoding strategy's flags.
    examples = str(tmp_path / "examples")
    assert main(["data", "export-examples", *common, "--split", "test", "--count", "1",
                 "--out", examples]) == 0  # fmt: skip
    example = os.path.join(examples, "example_0")
    for flags in (
        ["--image", f"{example}.png", "--strategy", "beam", "--num-beams", "3"],
        ["--audio", f"{example}.wav", "--strategy", "top_p", "--top-p", "0.8", "--seed", "1"],
        ["--text", "a red circle", "--prompt", "a", "--max-length", "12"],
    ):
        capsys.readouterr()
        assert main(["generate", "--workdir", workdir, *flags]) == 0
        printed = capsys.readouterr().out.strip().splitlines()
        assert printed and printed[0].strip(), flags
    assert "beam score" not in printed[-1]
    assert main(["generate", "--workdir", workdir, "--image", os.devnull]) == 2


# Translation and question answering end to end run in make test-slow (the default suite's
# 20-minute budget); their task code is unit-tested in tests/tasks and tests/generation.
@pytest.mark.parametrize(
    "task",
    [
        "captioning",
        pytest.param("translation", marks=pytest.mark.slow),
        pytest.param("question_answering", marks=pytest.mark.slow),
        "colour_from_speech",
    ],
)
def test_finetune_and_evaluate_a_task(pretrained, task, tmp_path, capsys):
    pretrain_dir, common, _ = pretrained
    common = ["--config", os.path.join(CONFIGS, f"{task}.py") + ":smoke", *common[2:]]
    workdir = str(tmp_path / task)
    args = ["finetune", *common, "--workdir", workdir, "--init-from", pretrain_dir]
    assert main(args) == 0
    metrics_path = str(tmp_path / "metrics.json")
    assert main(["evaluate", *common, "--workdir", workdir, "--json", metrics_path]) == 0
    printed = capsys.readouterr().out
    with open(metrics_path) as f:
        metrics = json.load(f)
    if task == "colour_from_speech":
        assert "classification_loss" in printed and "macro F1" in printed
        assert metrics["num_examples"] == 16
        assert 0.0 <= metrics["accuracy"] <= 1.0 and len(metrics["per_class"]) == 8
        assert "red" in metrics["per_class"]
        assert os.path.getsize(metrics["confusion_matrix_png"]) > 1000
    else:
        assert "generation_loss" in printed and "BLEU-4" in printed
        assert metrics["num_examples"] == 16
        for key in ("bleu4", "cider", "wer", "exact_match", "perplexity"):
            assert np.isfinite(metrics[key]) and metrics[key] >= 0.0, key
        assert metrics["sacrebleu"]["bleu_signature"].startswith("nrefs:1")
        targets = {"translation": "text_es", "question_answering": "answer"}
        assert metrics["task"]["target_text"] == targets.get(task, "text")
        assert len(metrics["examples"]) == 8
        assert metrics["baselines"]["ngram_perplexity"] > 1.0
        kinds = {name for name in metrics.get("subsets", {}) if name.startswith("q:")}
        if task == "question_answering":  # exact match per question kind
            assert kinds and kinds <= {"q:colour", "q:position", "q:count"}, kinds
        else:
            assert not kinds
    # A pretraining config is not a task.
    assert main(["finetune", "--config", CONFIG, *common[2:], "--workdir", str(tmp_path / "x"),
                 "--init-from", pretrain_dir]) == 2  # fmt: skip
