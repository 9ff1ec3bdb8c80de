"""The smoke scenes config with `data.scenes.version=2`, prepared through TFDS like the demo."""

import tempfile

import pytest

from mmlm.data.prepare import prepare_data
from mmlm.testing.data import smoke_config

V2 = ("data.scenes.version=2", "data.audio.duration_seconds=8")


@pytest.mark.slow  # 18 s on a loaded 2-core machine
def test_smoke_config_version_two_prepares_unique_captions():
    config = smoke_config(tempfile.mkdtemp(prefix="mmlm-scenes-v2-"), overrides=V2)
    source = prepare_data(config.data, log=lambda *_: None)["source"]
    assert source.name.endswith("_v2") and source.version == 2
    features = source.builder.info.features
    assert features["background"].names == ["white", "grey", "black"]
    assert features["objects"]["size"].names == ["small", "large"]
    assert source.builder.info.metadata["version"] == 2
    captions = {}
    for split in ("train", "validation", "test"):
        texts = [bytes(e["text"].numpy()).decode() for e in source.load(split)]
        assert len(texts) == source.num_examples(split) == len(set(texts)), split
        captions[split] = set(texts)
    assert not captions["test"] & (captions["train"] | captions["validation"])
    assert not captions["validation"] & captions["train"]
    colour_prompts = source.attribute_prompts()["color"][1][0]
    assert "a small red circle in the top left corner on grey" in colour_prompts
    assert len(colour_prompts) == 3 * 4 * 2 * 3  # shapes x positions x sizes x backgrounds
