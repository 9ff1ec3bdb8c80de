"""tools/pretrain_fit.py, finetune_classifier.py and zero_shot.py on a tiny manifest (24 rows of
coloured squares, tones and captions): each script's real outputs, checked against the models
they saved."""

import csv
import importlib.util
import os
import sys

import numpy as np
import pytest
import soundfile
from PIL import Image

import mmlm
from mmlm.data.manifest_rows import read_manifest_rows, rows_dataset
from mmlm.testing import processes
from mmlm.testing.data import write_tiny_manifest

TOOLS = os.path.join(processes.REPO, "tools")
SMOKE = os.path.join(processes.REPO, "configs", "manifest.py") + ":smoke"


def run_tool(name, argv):
    """Imports tools/<name>.py and runs its main(argv) in this process."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(TOOLS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        return module.main(argv)
    finally:
        mmlm.keras.backend.clear_session()


def pretrain_args(root, manifest):
    """Two epochs of two steps of the smoke model, under MirroredStrategy (on one CPU device in
    this process: the distributed input and all-reduce path, for the time of the default)."""
    return ["--manifest", manifest, "--config", SMOKE, "--set", f"data.data_dir={root}/data",
            "--workdir", f"{root}/run", "--out", f"{root}/preset", "--strategy", "mirrored",
            "--epochs", "2", "--steps-per-epoch", "2"]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return write_tiny_manifest(str(tmp_path_factory.mktemp("manifest")))


@pytest.fixture(scope="module")
def pretrained(manifest, tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain")
    return root, run_tool("pretrain_fit", pretrain_args(root, manifest))


@pytest.fixture(scope="module")
def preprocessor(pretrained):
    return mmlm.MultimodalPreprocessor.from_preset(str(pretrained[0] / "preset"))


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def class_scores(rows, classes):
    """(N, C) scores of a predictions CSV, checking that each row predicts its top class."""
    scores = np.array([[float(row[f"score:{c}"]) for c in classes] for row in rows])
    assert [row["predicted"] for row in rows] == [classes[i] for i in scores.argmax(-1)]
    assert [float(row["score"]) for row in rows] == list(scores.max(-1))
    return scores


def test_pretrain_fit_saves_the_trained_backbone_as_a_preset(pretrained, preprocessor, manifest):
    root, task = pretrained
    backbone = mmlm.MultimodalBackbone.from_preset(str(root / "preset"))
    inputs = preprocessor({"text": ["a red square", "a blue square"]})
    embeddings = backbone.embed("text", inputs).numpy()
    assert embeddings.shape == (2, backbone.embedding_dim)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(embeddings, task.backbone.embed("text", inputs), atol=1e-6)
    config = mmlm.load_config(str(root / "preset" / "config.yaml"))
    assert config.data.manifest.path == manifest
    # The callbacks' outputs: TensorBoard logs of both phases and the best weights.
    for phase in ("train", "validation"):
        assert os.listdir(root / "run" / "tensorboard" / phase)
    assert os.path.isfile(root / "run" / "best" / "weights.index")


@pytest.mark.slow
def test_pretrain_fit_under_mirrored_strategy_over_two_replicas(manifest, tmp_path):
    # The CPU can only be split into logical devices before TensorFlow starts: a fresh process.
    code = (
        "import runpy, mmlm, tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "devices = [tf.config.LogicalDeviceConfiguration()] * 2\n"
        "tf.config.set_logical_device_configuration(cpu, devices)\n"
        f"runpy.run_path({os.path.join(TOOLS, 'pretrain_fit.py')!r}, run_name='__main__')\n"
    )
    command = [sys.executable, "-c", code, *pretrain_args(tmp_path, manifest)]
    stdout = processes.run(command, timeout=600, what="pretrain_fit")
    assert "on 2 replica(s)" in stdout and "val_contrastive_loss" in stdout
    backbone = mmlm.MultimodalBackbone.from_preset(str(tmp_path / "preset"))
    assert backbone.modalities == ("text", "image", "audio")


def test_finetune_classifier_reports_and_saves_a_reloadable_classifier(
    pretrained, preprocessor, manifest, tmp_path, capsys
):
    out = tmp_path / "classifier"
    args = ["--preset", str(pretrained[0] / "preset"), "--manifest", manifest, "--out", str(out),
            "--modality", "image", "--epochs", "3", "--batch-size", "4"]
    task, report = run_tool("finetune_classifier", args)
    with open(out / "class_names.txt", encoding="utf-8") as f:
        assert f.read().splitlines() == ["blue", "green", "red"]

    reloaded = mmlm.ClassificationTask.from_preset(str(out))
    test = read_manifest_rows(manifest, preprocessor, split="test")
    batch = next(iter(rows_dataset(test, "image").batch(len(test)).map(preprocessor)))
    logits = reloaded(batch).numpy()
    np.testing.assert_allclose(logits, task(batch), atol=1e-5)
    # The report is that of these logits over the test split's 6 rows.
    labels = np.array([["blue", "green", "red"].index(row["label"]) for row in test])
    assert report["num_examples"] == 6
    assert report["accuracy"] == pytest.approx(np.mean(logits.argmax(-1) == labels))
    assert f"test: accuracy {report['accuracy']:.3f}, macro-F1" in capsys.readouterr().out


def test_zero_shot_over_a_manifest_writes_predictions_and_retrievals(
    pretrained, preprocessor, manifest, tmp_path, capsys
):
    preset = str(pretrained[0] / "preset")
    args = ["--preset", preset, "--manifest", manifest, "--split", "test",
            "--classes-from-labels", "--prompt", "a {} square", "--retrieve", "a red square",
            "--top-k", "3", "--out", f"{tmp_path}/predictions.csv",
            "--retrieval-out", f"{tmp_path}/retrieval.csv"]
    run_tool("zero_shot", args)
    rows = read_csv(tmp_path / "predictions.csv")
    test = read_manifest_rows(manifest, preprocessor, split="test")
    assert [(r["file"], r["modality"], r["label"]) for r in rows] == [
        (row["id"], m, row["label"]) for m in ("image", "audio") for row in test
    ]
    classes = ["blue", "green", "red"]
    scores = class_scores(rows, classes)

    # The scores are the cosine similarities of the backbone's embeddings.
    backbone = mmlm.MultimodalBackbone.from_preset(preset)
    images = next(iter(rows_dataset(test, "image").batch(len(test)).map(preprocessor)))
    image_embeddings = backbone.embed("image", images).numpy()
    texts = preprocessor({"text": [f"a {c} square" for c in classes] + ["a red square"]})
    text_embeddings = backbone.embed("text", texts).numpy()
    np.testing.assert_allclose(
        scores[: len(test)], image_embeddings @ text_embeddings[:3].T, atol=1e-5
    )
    printed = capsys.readouterr().out
    for m in ("image", "audio"):
        correct = np.mean([r["predicted"] == r["label"] for r in rows if r["modality"] == m])
        assert f"{m}: accuracy {correct:.3f} over {len(test)} labelled files" in printed

    retrieved = read_csv(tmp_path / "retrieval.csv")
    assert [(r["query"], r["modality"], r["rank"]) for r in retrieved] == [
        ("a red square", m, str(rank)) for m in ("image", "audio") for rank in (1, 2, 3)
    ]
    query_scores = image_embeddings @ text_embeddings[3]
    best = [test[i]["id"] for i in np.argsort(-query_scores)[:3]]
    assert [r["file"] for r in retrieved[:3]] == best


def test_zero_shot_over_a_folder_labels_files_by_subfolder(pretrained, tmp_path):
    folder = tmp_path / "files"
    # Images of different sizes and formats; a tone at another rate than the preset's.
    for name, size, colour in [
        ("red/a.png", (30, 20), (220, 30, 30)),
        ("blue/b.jpg", (16, 40), (40, 60, 220)),
        ("c.png", (24, 24), (30, 180, 60)),
    ]:
        os.makedirs(os.path.dirname(folder / name), exist_ok=True)
        Image.new("RGB", size, colour).save(folder / name)
    soundfile.write(folder / "red" / "tone.wav", np.sin(np.arange(4000) / 3.0) * 0.3, 8000)
    (folder / "notes.txt").write_text("not a media file")
    out = tmp_path / "predictions.csv"
    args = ["--preset", str(pretrained[0] / "preset"), "--folder", str(folder),
            "--classes", "red, blue", "--out", str(out)]
    run_tool("zero_shot", args)
    rows = read_csv(out)
    assert [(r["file"], r["modality"], r["label"]) for r in rows] == [
        ("c.png", "image", ""),
        (os.path.join("blue", "b.jpg"), "image", "blue"),
        (os.path.join("red", "a.png"), "image", "red"),
        (os.path.join("red", "tone.wav"), "audio", "red"),
    ]
    class_scores(rows, ["red", "blue"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--folder", "x"], "nothing to do"),
        (["--folder", "x", "--classes", "a,b", "--prompt", "no braces"], "needs a {}"),
        (["--classes", "a,b"], "one of the arguments --manifest --folder is required"),
    ],
)
def test_zero_shot_refuses_unclear_requests(argv, message, capsys):
    with pytest.raises(SystemExit):
        run_tool("zero_shot", ["--preset", "p", *argv])
    assert message in capsys.readouterr().err
