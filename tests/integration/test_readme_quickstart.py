"""The README's Python quick start runs as written on a tiny manifest (smoke sizes), and the
run directory it makes works from another directory: evaluate, export, presets."""

import json
import os
import re

import numpy as np

import mmlm
from mmlm import preset_files
from mmlm.cli.main import main
from mmlm.testing.data import write_tiny_manifest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def quickstart_code():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    match = re.search(r"<!-- quickstart -->\n```python\n(.*?)```", readme, re.DOTALL)
    assert match, "README.md lost its quick-start block"
    return match.group(1)


def test_readme_quickstart_and_a_portable_run(tmp_path, monkeypatch):
    write_tiny_manifest(str(tmp_path / "my_data"))  # the README's my_data/manifest.jsonl
    code = quickstart_code().replace(
        '"configs/manifest.py"', repr(os.path.join(ROOT, "configs", "manifest.py") + ":smoke")
    )
    monkeypatch.chdir(tmp_path)  # the README's relative paths land in tmp_path
    namespace = {}
    exec(compile(code, "README.md quick start", "exec"), namespace)

    # What the block promises: a trained, evaluated run whose model folder is a preset.
    assert namespace["embedding"].shape == (1, 128)
    np.testing.assert_allclose(np.linalg.norm(namespace["embedding"]), 1.0, rtol=1e-5)
    metrics = json.load(open(tmp_path / "runs/my_data/metrics.json"))
    assert metrics["num_examples"] == 6
    assert set(metrics["retrieval"]) == {
        "text_to_image", "image_to_text", "text_to_audio", "audio_to_text",
        "image_to_audio", "audio_to_image",
    }  # fmt: skip
    report = json.load(open(tmp_path / "runs/my_data/invalid_records.json"))
    assert report["carved_validation"]["count"] == 2  # 10 % of 18 train rows, rounded

    # From another directory, with the data directory unknown there: export needs only the
    # run (its vocabulary and preprocessing are in runs/my_data/model).
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = str(tmp_path / "runs/my_data")
    assert main(["export", "--workdir", run, "--format", "preset", "--out", "preset"]) == 0
    preset = str(elsewhere / "preset")
    assert os.path.isfile(os.path.join(preset, preset_files.CONFIG))
    backbone = mmlm.MultimodalBackbone.from_preset(preset)
    preprocessor = mmlm.MultimodalPreprocessor.from_preset(preset)
    inputs = preprocessor({"text": ["a red square number 1"]})
    np.testing.assert_allclose(
        backbone.embed("text", inputs),
        namespace["backbone"].embed("text", namespace["preprocessor"](
            {"text": ["a red square number 1"]})),
        atol=1e-6,
    )  # fmt: skip
    # Exporting into a non-empty folder is refused, naming it.
    assert main(["export", "--workdir", run, "--format", "preset", "--out", "preset"]) == 2
    # The run's config.yaml (the default --config) holds absolute data paths: evaluate works
    # from here too.
    assert main(["evaluate", "--workdir", run]) == 0


def test_epochs_set_the_steps(tmp_path, monkeypatch):
    manifest = write_tiny_manifest(str(tmp_path), per_colour=4, test_per_colour=1)
    monkeypatch.chdir(tmp_path)
    config = mmlm.load_config(
        os.path.join(ROOT, "configs", "manifest.py:smoke"),
        [f"data.manifest.path={manifest}", "trainer.epochs=2", "trainer.steps=100"],
    )
    data = mmlm.load_data(config, log=lambda *_: None)
    from mmlm.experiments.pretrain import steps_for_epochs

    resolved = steps_for_epochs(config, data, log=lambda *_: None)
    train = data.source.num_examples("train")
    assert train == 8  # 9 train rows, one carved out for validation
    assert resolved.trainer.steps == 4  # ceil(2 epochs x 8 examples / batch 4)
    capped = steps_for_epochs(
        mmlm.load_config(
            os.path.join(ROOT, "configs", "manifest.py:smoke"),
            [f"data.manifest.path={manifest}", "trainer.epochs=50", "trainer.steps=7"],
        ),
        data,
        log=lambda *_: None,
    )
    assert capped.trainer.steps == 7
