"""Shared data fixtures: the smoke scenes data set, generated once per process."""

import dataclasses
import os
import tempfile

from mmlm.config import load_config

_CONFIG_FILE = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "scenes.py")
_prepared = {}


def smoke_config(data_dir=None, overrides=()):
    """The smoke experiment config of configs/scenes.py, with its data in `data_dir`."""
    config = load_config(_CONFIG_FILE + ":smoke", list(overrides))
    if data_dir is not None:
        config = dataclasses.replace(
            config, data=dataclasses.replace(config.data, data_dir=data_dir)
        )
    return config


def prepared_smoke_scenes():
    """(config, source, vocabulary) of the smoke scenes, generated once per test process."""
    if "scenes" not in _prepared:
        from mmlm.data.prepare import load_prepared, prepare_data

        config = smoke_config(tempfile.mkdtemp(prefix="mmlm-smoke-data-"))
        prepare_data(config.data, log=lambda *_: None)
        source, vocabulary = load_prepared(config.data)
        _prepared["scenes"] = (config, source, vocabulary)
    return _prepared["scenes"]
