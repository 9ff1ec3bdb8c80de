"""tools/emoji_manifest.py: a real data set (Noto emoji glyphs, CLDR names, espeak-ng speech,
Unicode groups) as a manifest, and `mmlm data generate` ingesting it."""

import collections
import importlib.util
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile
from PIL import Image

from mmlm.cli.main import main

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
SCRIPT = os.path.join(ROOT, "tools", "emoji_manifest.py")
CONFIG = os.path.join(ROOT, "configs", "scenes.py") + ":smoke"
GROUPS = {"Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink",
          "Travel & Places", "Activities", "Objects", "Symbols", "Flags"}  # fmt: skip


@pytest.fixture(scope="module")
def emoji(tmp_path_factory):
    out = tmp_path_factory.mktemp("emoji")
    command = [sys.executable, SCRIPT, "--out", str(out), "--limit", "12", "--image-size", "48"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    with open(out / "manifest.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return out, rows, result.stdout


def test_rows_are_unique_real_emoji_with_decodable_media(emoji):
    out, rows, stdout = emoji
    assert len(rows) == 12
    assert all(set(row) == {"id", "text", "image", "audio", "label", "split"} for row in rows)
    assert len({row["id"] for row in rows}) == len({row["text"] for row in rows}) == 12
    # --limit spreads the rows over the groups, in the file's (CLDR) order.
    assert (rows[0]["id"], rows[0]["text"]) == ("1f600", "grinning face")
    assert rows[0]["label"] == "Smileys & Emotion" and rows[-1]["label"] == "Flags"
    assert rows[-1]["text"].startswith("flag: ")
    assert {row["label"] for row in rows} <= GROUPS and len({row["label"] for row in rows}) >= 6
    assert {row["split"] for row in rows} == {"train", "test"}  # no validation rows
    for row in rows:
        assert not os.path.isabs(row["image"]) and not os.path.isabs(row["audio"])
        with Image.open(out / row["image"]) as image:
            assert (image.format, image.mode, image.size) == ("PNG", "RGB", (48, 48))
            pixels = np.asarray(image)
        assert (pixels[0, 0] == 255).all() and (pixels != 255).any(axis=-1).mean() > 0.2, row
        audio, rate = soundfile.read(out / row["audio"])
        assert rate == 22050 and audio.ndim == 1 and len(audio) > 0.3 * rate, row
        assert np.abs(audio).max() > 0.05, row

    with open(out / "summary.json", encoding="utf-8") as f:
        summary = json.load(f)
    assert summary["rows"] == 12
    assert summary["split"] == dict(collections.Counter(row["split"] for row in rows))
    assert summary["label"] == dict(collections.Counter(row["label"] for row in rows))
    assert summary["duplicate_images"]["flag: Bouvet Island"] == "flag: Norway"
    assert f"split: train {summary['split']['train']}" in stdout


def test_mmlm_data_generate_ingests_the_manifest(emoji, tmp_path, capsys):
    out, rows, _ = emoji
    num_test = sum(row["split"] == "test" for row in rows)
    args = ["data", "generate", "--config", CONFIG, "--workdir", str(tmp_path / "run")]
    for override in (
        "data.source=manifest",
        f"data.manifest.path={out / 'manifest.jsonl'}",
        f"data.data_dir={tmp_path / 'data'}",
        "data.manifest.validation_fraction=0.2",  # mmlm carves validation out of train
    ):
        args += ["--set", override]
    assert main(args) == 0
    printed = capsys.readouterr().out
    counts = dict(re.findall(r"^ +(train|validation|test) +(\d+) examples$", printed, re.M))
    assert counts == {"train": str(12 - num_test - 2), "validation": "2", "test": str(num_test)}
    assert "0 invalid records skipped" in printed


@pytest.mark.parametrize(
    "name, value, package",
    [
        ("FONT", "/nonexistent/NotoColorEmoji.ttf", "fonts-noto-color-emoji"),
        ("EMOJI_TEST", "/nonexistent/emoji-test.txt", "unicode-data"),
        ("shutil", None, "espeak-ng"),
        ("features", None, "libfribidi0"),  # without it Pillow cannot join ZWJ sequences
    ],
)
def test_a_missing_debian_package_is_named(name, value, package, tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("emoji_manifest", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if name == "shutil":
        monkeypatch.setattr(module.shutil, "which", lambda program: None)
    elif name == "features":
        monkeypatch.setattr(module.features, "check", lambda feature: False)
    else:
        monkeypatch.setattr(module, name, value)
    with pytest.raises(SystemExit) as exit_:
        module.main(["--out", str(tmp_path)])
    assert f"apt-get install -y {package}" in str(exit_.value.code)
