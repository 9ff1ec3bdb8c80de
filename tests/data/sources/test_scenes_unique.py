"""Version-2 scenes: sizes, backgrounds and captions unique within and across splits."""

import hashlib
import io
import subprocess

import numpy as np
import pytest
import soundfile

from mmlm.data.sources import scenes
from mmlm.data.sources.scenes import unique, vocabulary
from mmlm.data.sources.scenes_builder import ScenesBuilderConfig

SIZES_ES = {"small": ("pequeño", "pequeña"), "large": ("grande",)}
BACKGROUNDS_ES = {"white": "blanco", "grey": "gris", "black": "negro"}


@pytest.fixture(scope="module")
def splits():
    """Larger than the other scene tests' splits (no speech): a one-object caption repeats in
    version 1 at these sizes (checked below)."""
    sizes = (("train", 200), ("validation", 40), ("test", 80))
    return {
        split: [
            e for _, e in scenes.generate_examples(split, n, seed=7, speech_languages=(), version=2)
        ]
        for split, n in sizes
    }


def test_captions_unique_within_and_across_splits(splits):
    texts = {split: [e["text"] for e in examples] for split, examples in splits.items()}
    for split, captions in texts.items():
        assert len(set(captions)) == len(captions), split
    assert not set(texts["test"]) & (set(texts["train"]) | set(texts["validation"]))
    assert not set(texts["validation"]) & set(texts["train"])
    for split in ("train", "validation"):
        assert all(unique.caption_split(text) == split for text in texts[split])
    # A held-out test caption is test's by construction; a seen one by its hash.
    for example in splits["test"]:
        assert example["heldout"] or unique.caption_split(example["text"]) == "test"
    # The same sizes in version 1 repeat captions (what version 2 is for).
    v1 = [e["text"] for _, e in scenes.generate_examples("train", 200, seed=7, speech_languages=())]
    assert len(set(v1)) < len(v1)


def test_caption_follows_structure_in_reading_order(splits):
    for example in [e for examples in splits.values() for e in examples]:
        objects, text = example["objects"], example["text"]
        assert text.endswith(f" on {example['background']}")
        assert text.count(" and ") == example["num_objects"] - 1
        positions = [vocabulary.POSITIONS.index(p) for p in objects["position"]]
        assert positions == sorted(positions)
        phrases = []
        for color, shape, position, digit, size in zip(
            objects["color"],
            objects["shape"],
            objects["position"],
            objects["digit"],
            objects["size"],
        ):
            noun = f"digit {digit}" if shape == "digit" else shape
            phrases.append(f"a {size} {color} {noun} in the {position} corner")
        assert text == " and ".join(phrases) + f" on {example['background']}"
        spanish = example["text_es"]
        assert spanish[0].islower() and not spanish.endswith(".") and "esquina" in spanish
        assert BACKGROUNDS_ES[example["background"]] in spanish, spanish
        for size in objects["size"]:
            assert any(word in spanish for word in SIZES_ES[size]), spanish


def test_heldout_flag_and_object_mix(splits):
    heldout = set(vocabulary.DEFAULT_HELDOUT)
    for split, examples in splits.items():
        for example in examples:
            pairs = set(zip(example["objects"]["color"], example["objects"]["shape"]))
            assert example["heldout"] == bool(pairs & heldout)
            assert split == "test" or not example["heldout"]
        one_object = np.mean([e["num_objects"] == 1 for e in examples])
        assert 0.15 < one_object < 0.5, (split, one_object)  # drawn with ONE_OBJECT_SHARE 1/3
    assert 0 < sum(e["heldout"] for e in splits["test"]) < len(splits["test"])


def _quadrant(image, position):
    half = image.shape[0] // 2
    row, col = divmod(vocabulary.POSITIONS.index(position), 2)
    return image[row * half : (row + 1) * half, col * half : (col + 1) * half]


def test_image_background_and_sizes(splits):
    extents = {}  # (is a digit, size) -> largest side of the object's pixels
    for example in [e for examples in splits.values() for e in examples]:
        image, objects = example["image"], example["objects"]
        background = vocabulary.BACKGROUNDS[example["background"]]
        for position in set(vocabulary.POSITIONS) - set(objects["position"]):
            assert np.all(_quadrant(image, position) == background)
        for color, shape, position, size in zip(
            objects["color"], objects["shape"], objects["position"], objects["size"]
        ):
            quadrant = _quadrant(image, position)
            mask = np.all(quadrant == vocabulary.COLORS[color], axis=-1)
            assert mask.sum() >= 8, example["text"]
            rows, cols = np.nonzero(mask)
            side = max(np.ptp(rows), np.ptp(cols)) + 1
            extents.setdefault((shape == "digit", size), []).append(side)
    # Drawn at 0.35-0.5 and 0.7-0.9 of the 32-pixel quadrant: every small shape is smaller
    # than every large one (a digit's ink is smaller than its box: compared among digits).
    for digit in (False, True):
        assert max(extents[digit, "small"]) + 2 < min(extents[digit, "large"]), extents


def test_exhausted_caption_space_is_a_clear_error(monkeypatch):
    """One colour-shape pair makes 24 one-object and 72 two-object captions: the sampler hands
    out each of train's once, then stops with an error naming the split."""
    monkeypatch.setattr(unique, "MAX_DRAWS", 2000)  # keeps the failing search short
    captions = unique.UniqueCaptions("train")
    rng = np.random.default_rng(0)
    drawn = []
    with pytest.raises(RuntimeError, match="split 'train'.*used up"):
        for _ in range(100):
            scene = captions.draw(rng, [("red", "circle")], required_combos=())
            drawn.append(scenes.caption(scene))
    assert len(drawn) == len(set(drawn)) <= 24 + 72
    assert all(unique.caption_split(text) == "train" for text in drawn)


def test_caption_split_is_a_stable_hash_with_the_shares():
    assert unique.caption_split("a small red circle in the top left corner on grey") == (
        unique.caption_split("a small red circle in the top left corner on grey")
    )
    homes = [unique.caption_split(f"caption {i}") for i in range(20000)]
    for split, share in unique.SPLIT_SHARES:
        assert homes.count(split) / len(homes) == pytest.approx(share, abs=0.01)


def test_longest_caption_fits_the_audio_window_at_the_slowest_speed():
    """The longest version-2 caption, spoken at the slowest rate, lasts over 7 s (the version-1
    window) and about 8 s (the window to set with version 2; its last 0.3 s are silence: of
    the default 2,750 scenes, 2 clips exceed 8 s, by at most 0.02 s)."""
    text = (
        "a large purple digit seven in the bottom left corner and a small orange rectangle "
        "in the bottom right corner on black"
    )
    for variant in ("m1", "f5"):
        wav = subprocess.run(
            ["espeak-ng", "-v", f"en-us+{variant}", "-s", str(scenes.SPEED_RANGE[0]), "--stdout"],
            input=text.encode(),
            capture_output=True,
            check=True,
        ).stdout
        audio, rate = soundfile.read(io.BytesIO(wav))
        assert 7.0 < audio.size / rate < 8.05


def test_version_one_is_unchanged_and_versions_are_checked():
    """Version 1's first test scenes as generated before version 2 existed (commit 5403588)."""
    examples = scenes.generate_examples("test", 3, seed=0, speech_languages=())
    expected = [
        ("a red triangle in the top right corner", "233f74165995aaef"),
        ("an orange triangle in the bottom right corner", "bf08700564dc0e99"),
        ("a green circle in the top left corner", "5e5f9c01f749d5f9"),
    ]
    for (_, example), (text, image_hash) in zip(examples, expected):
        assert example["text"] == text and "background" not in example
        assert hashlib.sha256(example["image"].tobytes()).hexdigest()[:16] == image_hash
    assert examples[0][1]["text_es"] == "un triángulo rojo en la esquina derecha superior"
    with pytest.raises(ValueError, match=r"Unknown scenes version 3; expected one of \(1, 2\)"):
        scenes.generate_examples("test", 1, speech_languages=(), version=3)
    v1_name = ScenesBuilderConfig.create().name
    assert v1_name == "n2000-250-500_64px_16000hz_seed0_d56c72"  # as before version 2
    assert ScenesBuilderConfig.create(generator_version=2).name == v1_name + "_v2"
    with pytest.raises(ValueError, match="version-2 scene sets a background"):
        scenes.Scene((scenes.SceneObject("circle", "red", "top left"),), background="grey")
