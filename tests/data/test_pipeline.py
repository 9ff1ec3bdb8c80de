"""The tf.data pipeline on the smoke scenes: layout, determinism, sharding, modality subsets."""

import dataclasses

import numpy as np
import pytest

from mmlm.backend import keras, tf
from mmlm.config import Modality, ObjectiveConfig
from mmlm.data.pipeline import build_dataset
from mmlm.testing.data import prepared_smoke_scenes


@pytest.fixture(scope="module")
def scenes():
    return prepared_smoke_scenes()


def _batches(config, source, vocabulary, split="train", **kwargs):
    keras.utils.set_random_seed(0)
    dataset = build_dataset(config.data, split, vocabulary=vocabulary, source=source, **kwargs)
    return [tf.nest.map_structure(np.asarray, batch) for batch in dataset]


def test_batch_layout(scenes):
    config, source, vocabulary = scenes
    batches = _batches(config, source, vocabulary, "validation", objective=ObjectiveConfig())
    b = config.data.global_batch_size
    first = batches[0]
    assert first["token_ids"].shape == (b, config.data.text.sequence_length)
    assert first["text_es_token_ids"].shape == first["token_ids"].shape
    assert first["images"].shape == (b, 64, 64, 3) and first["images"].dtype == np.float32
    audio = config.data.audio
    samples = int(audio.sample_rate * audio.duration_seconds)
    assert first["audio"].shape == (b, samples) and first["audio_padding_mask"].dtype == bool
    assert first["image_patch_mask"].shape == (b, 64)  # (64 / 8)^2 patches
    frames = 1 + samples // audio.frame_step
    assert first["audio_patch_mask"].shape == (b, (frames // 16) * (audio.num_mel_bins // 16))
    assert first["object_color"].shape == (b, 2)
    assert all(first[f"{m}_present"].all() for m in ("text", "image", "audio"))
    # Raw features the pipeline replaces or the source leaves out (`unbatched_features`); the
    # Spanish caption comes back as the configured extra text, raw and tokenized.
    assert not {"image", "audio_es"} & set(first)
    assert first["text_es"].dtype == object and "question" in first
    # Evaluation keeps every example (the last batch may be partial).
    assert sum(len(x["text"]) for x in batches) == source.num_examples("validation")
    # The waveform is the stored one, scaled: real samples, then zero padding.
    raw = next(iter(source.load("validation")))
    n = len(raw["audio"])
    np.testing.assert_allclose(first["audio"][0, :n], raw["audio"].numpy() / 32768.0, atol=1e-7)
    assert first["audio_padding_mask"][0].sum() == n and not first["audio"][0, n:].any()


def test_hard_negative_captions(scenes):
    config, source, vocabulary = scenes
    objective = ObjectiveConfig(hard_negative_words=("circle rectangle",))
    swappable = {vocabulary.index("circle"): "rectangle", vocabulary.index("rectangle"): "circle"}
    batches = _batches(config, source, vocabulary, training=True, objective=objective)
    rows = 0
    for batch in batches:
        for tokens, negative, valid in zip(
            batch["token_ids"], batch["negative_token_ids"], batch["negative_valid"]
        ):
            changed = np.flatnonzero(tokens != negative)
            assert valid == any(t in swappable for t in tokens)
            assert len(changed) == int(valid)
            if valid:
                old, new = tokens[changed[0]], negative[changed[0]]
                assert vocabulary[new] == swappable[old]
            rows += valid
    assert rows > 0
    # The same seeded run draws the same negatives.
    again = _batches(config, source, vocabulary, training=True, objective=objective)
    np.testing.assert_array_equal(batches[0]["negative_token_ids"], again[0]["negative_token_ids"])


def test_exchange_negative_captions(scenes):
    config, source, vocabulary = scenes
    words = ("circle", "rectangle")
    objective = ObjectiveConfig(exchange_negative_words=(" ".join(words),))
    group = {vocabulary.index(w) for w in words}
    batches = _batches(config, source, vocabulary, training=True, objective=objective)
    rows = 0
    for batch in batches:
        assert "negative_token_ids" not in batch
        for tokens, negative, valid in zip(
            batch["token_ids"], batch["exchange_token_ids"], batch["exchange_valid"]
        ):
            assert valid == (len(group & set(tokens.tolist())) == 2)
            changed = np.flatnonzero(tokens != negative)
            assert len(changed) == 2 * int(valid)
            if valid:
                assert sorted(tokens[changed]) == sorted(negative[changed]) == sorted(group)
            rows += valid
    assert rows > 0


def test_seeded_training_pipeline_repeats_exactly(scenes):
    config, source, vocabulary = scenes
    objective = ObjectiveConfig()
    first = _batches(config, source, vocabulary, training=True, objective=objective)
    second = _batches(config, source, vocabulary, training=True, objective=objective)
    assert len(first) == config.data.scenes.num_train // config.data.global_batch_size
    for a, b in zip(first, second):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    reseeded = dataclasses.replace(config, data=dataclasses.replace(config.data, seed=1))
    other = _batches(reseeded, source, vocabulary, training=True)
    assert [x.decode() for x in first[0]["text"]] != [x.decode() for x in other[0]["text"]]


@pytest.mark.parametrize("cache", [False, True])
def test_repeated_training_data_is_endless_and_seeded(scenes, cache):
    """`repeat` shuffles across epochs (from cached examples after the first with
    `cache_examples`): no example is lost and a seeded run repeats exactly."""
    config, source, vocabulary = scenes
    data = dataclasses.replace(config.data, cache_examples=cache)

    def texts(epochs):
        keras.utils.set_random_seed(0)
        dataset = build_dataset(
            data, "train", vocabulary=vocabulary, source=source, training=True, repeat=True
        )
        assert dataset.cardinality() == tf.data.INFINITE_CARDINALITY
        graph = dataset._as_serialized_graph().numpy()  # noqa: SLF001  (tf.data's own graph)
        assert (b"CacheDataset" in graph) == cache
        per_epoch = config.data.scenes.num_train // config.data.global_batch_size
        batches = dataset.take(epochs * per_epoch)
        return [t.decode() for batch in batches for t in batch["text"].numpy()]

    one_epoch = [t.decode() for b in _batches(config, source, vocabulary) for t in b["text"]]
    stream = texts(epochs=3)
    assert stream == texts(epochs=3)
    assert set(stream) == set(one_epoch)
    # Three epochs' worth of batches hold each example about three times (epochs blend at
    # their boundaries, so exactly three is not guaranteed).
    counts = [stream.count(t) / one_epoch.count(t) for t in set(one_epoch)]
    assert 1 <= min(counts) and max(counts) <= 5


def test_training_augments_images_evaluation_does_not(scenes):
    config, source, vocabulary = scenes
    train = _batches(config, source, vocabulary, "validation", training=True)
    evaluation = _batches(config, source, vocabulary, "validation")
    texts = {t: i for i, t in enumerate(evaluation[0]["text"])}
    row = train[0]
    diffs = [
        np.abs(row["images"][i] - evaluation[0]["images"][texts[t]]).max()
        for i, t in enumerate(row["text"])
        if t in texts
    ]
    assert diffs and max(diffs) > 0.01


def test_input_context_shards_the_data(scenes):
    config, source, vocabulary = scenes
    texts = []
    for pipeline_id in range(2):
        context = tf.distribute.InputContext(
            num_input_pipelines=2, input_pipeline_id=pipeline_id, num_replicas_in_sync=2
        )
        batches = _batches(config, source, vocabulary, "test", input_context=context)
        assert len(batches[0]["text"]) == config.data.global_batch_size // 2
        texts.append({t for b in batches for t in b["text"]})
    assert not texts[0] & texts[1]
    everything = {t for b in _batches(config, source, vocabulary, "test") for t in b["text"]}
    assert texts[0] | texts[1] == everything


def test_modality_subset(scenes):
    config, source, vocabulary = scenes
    data = dataclasses.replace(config.data, modalities=(Modality.IMAGE,))
    batch = _batches(dataclasses.replace(config, data=data), source, None, "test")[0]
    assert "images" in batch and "token_ids" not in batch and "audio" not in batch
    assert "heldout" in batch  # labels pass through
