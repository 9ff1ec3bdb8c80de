"""The scenes data set as a TFDS builder: `tfds.load("scenes", data_dir=...)` works offline.

Each size/seed/rate combination is its own builder config, named from its parameters, so data
sets of different sizes live side by side in one `data_dir`.
"""

import dataclasses
import hashlib
import json

import numpy as np
import tensorflow_datasets as tfds

from mmlm.data.sources import scenes

_DESCRIPTION = """Generated scenes: one or two coloured shapes or digits in the quadrants of a
small image, an English caption, its Spanish translation (apertium eng-spa), both spoken by
espeak-ng with varied voices and speeds, and the scene's structure. Some colour-shape pairs
occur only in the test split (`heldout` marks the examples that contain one). Version 2 adds a
size to every object and a background colour to every scene, and no caption repeats within a
split or occurs in two splits."""


@dataclasses.dataclass(eq=False)
class ScenesBuilderConfig(tfds.core.BuilderConfig):
    """Parameters of one scenes data set (the builder config's name is derived from them)."""

    num_train: int = 2000
    num_validation: int = 250
    num_test: int = 500
    seed: int = 0
    image_size: int = 64
    sample_rate: int = 16000
    heldout_combos: tuple = scenes.DEFAULT_HELDOUT
    heldout_fraction: float = 0.5
    speech_languages: tuple = ("en", "es")
    # The scenes generator's version (1 or 2); `version` is the TFDS data set version.
    generator_version: int = 1

    @classmethod
    def create(cls, **parameters):
        """Builds a config whose name encodes every parameter (readable prefix + hash; version 2
        adds "_v2", so version-1 names are those of earlier releases)."""
        config = cls(name="pending", **parameters)
        digest = hashlib.sha1(
            json.dumps(
                [config.heldout_combos, config.heldout_fraction, config.speech_languages],
                default=list,
            ).encode()
        ).hexdigest()[:6]
        name = (
            f"n{config.num_train}-{config.num_validation}-{config.num_test}"
            f"_{config.image_size}px_{config.sample_rate}hz_seed{config.seed}_{digest}"
        )
        if scenes.check_version(config.generator_version) != 1:
            name += f"_v{config.generator_version}"
        return cls(name=name, description="Generated scenes.", **parameters)


class Scenes(tfds.core.GeneratorBasedBuilder):
    """TFDS builder of the generated scenes data set."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIG_CLASS = ScenesBuilderConfig
    BUILDER_CONFIGS = [
        ScenesBuilderConfig.create(),
        ScenesBuilderConfig.create(num_train=24, num_validation=8, num_test=16),
    ]

    def _info(self):
        c = self.builder_config
        # A Tensor rather than tfds.features.Audio: only Tensor takes an encoding, and ZLIB stores
        # raw int16 bytes compressed (Audio would store int64 varints, ~3x larger).
        audio = tfds.features.Tensor(
            shape=(None,),
            dtype=np.int16,
            encoding=tfds.features.Encoding.ZLIB,
            doc=f"speech, int16 PCM at {c.sample_rate} Hz",
        )
        objects = {
            "shape": tfds.features.ClassLabel(names=scenes.SHAPES),
            "color": tfds.features.ClassLabel(names=list(scenes.COLORS)),
            "position": tfds.features.ClassLabel(
                names=[p.replace(" ", "_") for p in scenes.POSITIONS]
            ),
            "digit": tfds.features.ClassLabel(names=("none",) + scenes.DIGITS),
        }
        if c.generator_version == 2:
            objects["size"] = tfds.features.ClassLabel(names=list(scenes.SIZES))
        features = {
            "text": tfds.features.Text(doc="English caption"),
            "text_es": tfds.features.Text(doc="Spanish caption (apertium eng-spa)"),
            "image": tfds.features.Image(shape=(c.image_size, c.image_size, 3)),
            "objects": tfds.features.Sequence(objects),
            "num_objects": np.int32,
            "heldout": tfds.features.Scalar(np.bool_, doc="has a test-only colour-shape pair"),
        }
        if c.generator_version == 2:
            features["background"] = tfds.features.ClassLabel(names=list(scenes.BACKGROUNDS))
        for language in c.speech_languages:
            suffix = scenes.language_suffix(language)
            features["audio" + suffix] = audio
            features["voice" + suffix] = tfds.features.Text(doc="espeak-ng voice")
            features["speed" + suffix] = tfds.features.Scalar(np.int32, doc="words per minute")
        return self.dataset_info_from_configs(
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict(features),
            supervised_keys=None,
            metadata=tfds.core.MetadataDict(
                {
                    "sample_rate": c.sample_rate,
                    **scenes.describe(
                        [tuple(combo) for combo in c.heldout_combos], version=c.generator_version
                    ),
                }
            ),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # everything is generated locally
        c = self.builder_config
        sizes = {"train": c.num_train, "validation": c.num_validation, "test": c.num_test}
        return {split: self._generate_examples(split, n) for split, n in sizes.items() if n}

    def _generate_examples(self, split, num_examples):
        c = self.builder_config
        examples = scenes.generate_examples(
            split,
            num_examples,
            seed=c.seed,
            image_size=c.image_size,
            sample_rate=c.sample_rate,
            heldout_combos=c.heldout_combos,
            heldout_fraction=c.heldout_fraction,
            speech_languages=c.speech_languages,
            version=c.generator_version,
        )
        for key, example in examples:
            example = dict(example)
            example["objects"] = dict(example["objects"])
            example["objects"]["position"] = [
                p.replace(" ", "_") for p in example["objects"]["position"]
            ]
            yield key, example
