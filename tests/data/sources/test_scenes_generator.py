"""Tests for the generated scenes source (no TensorFlow needed)."""

import ast
import json
import pathlib

import numpy as np
import pytest

from mmlm.data.sources import scenes
from mmlm.data.sources.scenes import vocabulary

SAMPLE_RATE = 16000
FORBIDDEN_IMPORTS = ("tensorflow", "keras", "tf_keras", "mmlm.backend")
SPANISH_NOUNS = {
    "circle": "círculo",
    "rectangle": "rectángulo",
    "triangle": "triángulo",
    "digit": "dígito",
}


@pytest.fixture(scope="module")
def splits():
    return {
        split: scenes.generate_examples(split, count, seed=7, sample_rate=SAMPLE_RATE)
        for split, count in (("train", 40), ("validation", 16), ("test", 40))
    }


def _examples(splits):
    return [example for examples in splits.values() for _, example in examples]


def _assert_same(a, b):
    assert [key for key, _ in a] == [key for key, _ in b]
    for (_, x), (_, y) in zip(a, b):
        assert x.keys() == y.keys()
        for name in x:
            if isinstance(x[name], np.ndarray):
                assert x[name].dtype == y[name].dtype and np.array_equal(x[name], y[name]), name
            else:
                assert x[name] == y[name], name


def test_same_seed_is_byte_identical_regardless_of_threads_and_length():
    run_a = scenes.generate_examples("train", 6, seed=3, max_workers=1)
    run_b = scenes.generate_examples("train", 4, seed=3, max_workers=2)
    _assert_same(run_a[:4], run_b)
    other = scenes.generate_examples("train", 4, seed=4, speech_languages=())
    assert [e["text"] for _, e in other] != [e["text"] for _, e in run_b]
    assert not all(np.array_equal(x["image"], y["image"]) for (_, x), (_, y) in zip(other, run_b))


def test_keys_and_fields(splits):
    key, example = splits["validation"][3]
    assert key == "validation_000003"
    assert set(example) == {
        "text",
        "text_es",
        "image",
        "audio",
        "audio_es",
        "objects",
        "num_objects",
        "heldout",
        "voice",
        "speed",
        "voice_es",
        "speed_es",
    }
    assert example["voice"].startswith("en-us+") and example["voice_es"].startswith("es+")
    assert scenes.SPEED_RANGE[0] <= example["speed"] <= scenes.SPEED_RANGE[1]
    for objects_field in example["objects"].values():
        assert len(objects_field) == example["num_objects"] in (1, 2)
    assert json.loads(json.dumps(scenes.describe()))["heldout_combos"][0] == ["red", "triangle"]


def test_heldout_combos_only_in_test_and_flagged(splits):
    heldout = set(vocabulary.DEFAULT_HELDOUT)
    for split, examples in splits.items():
        for _, example in examples:
            objects = example["objects"]
            has_heldout = bool(heldout & set(zip(objects["color"], objects["shape"])))
            assert example["heldout"] == has_heldout, example["text"]
            if split != "test":
                assert not has_heldout, (split, example["text"])
    flags = [example["heldout"] for _, example in splits["test"]]
    assert 0 < sum(flags) < len(flags)


def test_caption_follows_structure(splits):
    for example in _examples(splits):
        objects = example["objects"]
        text = example["text"]
        assert text == text.lower() and not text.endswith(".")
        assert text.count(" and ") == example["num_objects"] - 1
        for color, shape, position, digit in zip(
            objects["color"], objects["shape"], objects["position"], objects["digit"]
        ):
            noun = f"digit {digit}" if shape == "digit" else shape
            article = "an" if color[0] in "aeiou" else "a"
            assert f"{article} {color} {noun} in the {position} corner" in text


def test_caption_exact_and_article():
    scene = scenes.Scene(
        (
            scenes.SceneObject("circle", "orange", "top left"),
            scenes.SceneObject("digit", "blue", "bottom right", digit=7),
        )
    )
    assert scenes.caption(scene) == (
        "an orange circle in the top left corner and a blue digit seven in the bottom right corner"
    )
    with pytest.raises(ValueError, match="distinct quadrants"):
        scenes.Scene((scene.objects[0], scene.objects[0]))


def test_spanish_caption_names_each_shape(splits):
    for example in _examples(splits):
        text_es = example["text_es"]
        assert text_es[0].islower() and "esquina" in text_es
        for shape in example["objects"]["shape"]:
            assert SPANISH_NOUNS[shape] in text_es, text_es


def _quadrant(image, position):
    half = image.shape[0] // 2
    row, col = divmod(vocabulary.POSITIONS.index(position), 2)
    return image[row * half : (row + 1) * half, col * half : (col + 1) * half]


def test_image_has_object_colour_in_its_quadrant_only(splits):
    for example in _examples(splits):
        image = example["image"]
        assert image.dtype == np.uint8 and image.shape == (64, 64, 3)
        objects = example["objects"]
        for color, shape, position in zip(objects["color"], objects["shape"], objects["position"]):
            mask = np.all(_quadrant(image, position) == vocabulary.COLORS[color], axis=-1)
            assert mask.sum() >= 20, example["text"]
            if shape == "rectangle":
                rows, cols = np.nonzero(mask)
                assert np.ptp(cols) > 1.3 * np.ptp(rows), "rectangles must be wider than tall"
        for position in set(vocabulary.POSITIONS) - set(objects["position"]):
            assert np.all(_quadrant(image, position) == 255), "empty quadrants stay white"


def test_audio_is_int16_at_sample_rate(splits):
    for example in _examples(splits):
        for name in ("audio", "audio_es"):
            audio = example[name]
            assert audio.dtype == np.int16 and audio.ndim == 1
            assert 1.0 <= audio.size / SAMPLE_RATE <= 10.0
            assert np.abs(audio).max() > 1000
    low_rate = scenes.generate_examples(
        "validation", 3, seed=7, sample_rate=8000, speech_languages=("en",)
    )
    for (_, low), (_, full) in zip(low_rate, splits["validation"]):
        assert "audio_es" not in low and low["text"] == full["text"]
        assert low["audio"].size / full["audio"].size == pytest.approx(0.5, abs=0.01)


def test_missing_tools_fail_clearly(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="apt-get install espeak-ng"):
        scenes.synthesize(["a red circle"], ["en-us+m1"], [160])
    with pytest.raises(RuntimeError, match="apertium apertium-eng-spa"):
        scenes.translate_en_es(["a red circle"])


def test_apertium_line_count_mismatch_is_an_error(monkeypatch, tmp_path):
    fake = tmp_path / "apertium"
    fake.write_text("#!/bin/sh\ncat > /dev/null\necho 'una sola linea'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="returned 1 lines for 2 captions"):
        scenes.translate_en_es(["a red circle", "a blue triangle"])


def test_source_does_not_import_tensorflow():
    package_dir = pathlib.Path(scenes.__file__).parent
    for path in package_dir.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [alias.name for alias in node.names] + [getattr(node, "module", "") or ""]
                for name in names:
                    assert not name.startswith(FORBIDDEN_IMPORTS), (path.name, name)
