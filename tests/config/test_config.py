"""Typed configs: overrides, errors that name the key, YAML round trips, experiment files."""

import glob
import os

import pytest
import yaml

from mmlm.config import (
    ConfigError,
    ExperimentConfig,
    Modality,
    Precision,
    RuntimeConfig,
    apply_overrides,
    from_dict,
    load_config,
    to_dict,
    write_config,
)

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs")
SCENES = os.path.join(CONFIGS, "scenes.py")


def test_overrides_are_parsed_by_type():
    config = apply_overrides(
        ExperimentConfig(),
        [
            "data.scenes.num_train=10",
            "data.image.random_contrast=0.5",
            "data.skip_invalid=true",
            "data.modalities=text,audio",
            "runtime.precision=mixed_bfloat16",
            "data.scenes.heldout_combos=red circle,blue digit",
        ],
    )
    assert config.data.scenes.num_train == 10
    assert config.data.image.random_contrast == 0.5
    assert config.data.skip_invalid is True
    assert config.data.modalities == (Modality.TEXT, Modality.AUDIO)
    assert config.runtime.precision is Precision.MIXED_BFLOAT16
    assert config.data.scenes.heldout_combos == ("red circle", "blue digit")
    assert ExperimentConfig().data.scenes.num_train == 2000  # frozen defaults untouched


@pytest.mark.parametrize(
    "assignment, expected",
    [
        (
            "data.scenes.num_trian=3",
            ["unknown key 'data.scenes.num_trian'", "data.scenes.num_train"],
        ),
        ("data.batch=3", ["unknown key 'data.batch'", "data.global_batch_size"]),
        ("data.scenes.num_train=1.5", ["data.scenes.num_train", "expected int"]),
        ("data.skip_invalid=maybe", ["data.skip_invalid", "expected bool"]),
        ("runtime.strategy=gpu", ["runtime.strategy", "mirrored", "parameter_server"]),
        ("data.image=3", ["data.image", "is a section", "image_size"]),
        ("data.scenes.seed.x=1", ["data.scenes.seed", "not a section"]),
        ("no_equals_sign", ["expected KEY=VALUE"]),
    ],
)
def test_bad_overrides_name_the_problem(assignment, expected):
    with pytest.raises(ConfigError) as error:
        apply_overrides(ExperimentConfig(), [assignment])
    for fragment in expected:
        assert fragment in str(error.value)


def test_yaml_round_trip(tmp_path):
    config = apply_overrides(ExperimentConfig(), ["data.modalities=image", "model.preset=base"])
    path = write_config(config, tmp_path)
    with open(path) as f:
        assert yaml.safe_load(f)["data"]["modalities"] == ["image"]
    assert load_config(path) == config
    assert from_dict(ExperimentConfig, to_dict(config)) == config


def test_yaml_with_wrong_type_or_key_is_rejected(tmp_path):
    for text, fragment in [
        ("data: {global_batch_size: eight}", "data.global_batch_size: expected int"),
        ("data: {batchsize: 8}", "unknown key 'data.batchsize'"),
    ]:
        path = tmp_path / "bad.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=fragment):
            load_config(str(path))


def test_experiment_file_and_smoke_variant():
    full = load_config(SCENES)
    smoke = load_config(SCENES + ":smoke", ["data.scenes.seed=3"])
    assert full.name == "scenes" and smoke.name == "scenes_smoke"
    assert smoke.data.scenes.num_train < full.data.scenes.num_train
    assert smoke.data.scenes.seed == 3
    with pytest.raises(ConfigError, match="only variant is ':smoke'"):
        load_config(SCENES + ":large")
    with pytest.raises(ConfigError, match="no such file"):
        load_config("configs/missing.py")


@pytest.mark.parametrize(
    "path", sorted(glob.glob(os.path.join(CONFIGS, "*.py"))), ids=os.path.basename
)
def test_every_experiment_file_and_its_smoke_variant(path):
    full, smoke = load_config(path), load_config(path + ":smoke")
    assert smoke.name == full.name + "_smoke"
    assert smoke.trainer.steps <= 4 < full.trainer.steps
    assert smoke.trainer.log_every == 1 and smoke.runtime == RuntimeConfig()
    assert smoke.data.global_batch_size <= 8 < full.data.global_batch_size
    assert smoke.data.source == full.data.source and smoke.task.kind == full.task.kind
