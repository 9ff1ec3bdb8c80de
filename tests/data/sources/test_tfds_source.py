"""A public TFDS data set by name goes through the same pipeline (offline, via mock_data)."""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from mmlm.config import DataSource, Modality, TFDSConfig
from mmlm.data.pipeline import build_dataset
from mmlm.data.prepare import prepare_data
from mmlm.data.preprocessing.vocabulary import load_vocabulary
from mmlm.testing.data import smoke_config


def test_coco_captions_through_the_pipeline(tmp_path):
    config = smoke_config(str(tmp_path))
    data = dataclasses.replace(
        config.data,
        source=DataSource.TFDS,
        tfds=TFDSConfig(
            name="coco_captions",
            text_feature="captions/text",
            image_feature="image",
            validation_split="val",
        ),
        modalities=(Modality.TEXT, Modality.IMAGE),
        text=dataclasses.replace(config.data.text, vocabulary_size=300),
    )
    with tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE):
        prepared = prepare_data(data, log=lambda *_: None)
        source = prepared["source"]
        assert source.modalities == ("text", "image")
        raw = next(iter(source.builder.as_dataset(split="val")))
        vocabulary = load_vocabulary(prepared["vocabulary_path"])
        batch = next(iter(build_dataset(data, "validation", vocabulary=vocabulary, source=source)))
    assert batch["images"].shape == (data.global_batch_size, 64, 64, 3)
    assert batch["token_ids"].shape == (data.global_batch_size, data.text.sequence_length)
    assert batch["text_present"].numpy().all() and batch["image_present"].numpy().all()
    assert "audio" not in batch
    # The first caption of the first example is the text fed to the tokenizer.
    assert batch["text"][0].numpy() == raw["captions"]["text"][0].numpy()
    assert np.isfinite(batch["images"].numpy()).all()
