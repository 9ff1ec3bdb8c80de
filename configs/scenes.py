"""The default experiment: the generated scenes data set (text + image + speech, en/es).

    mmlm data generate --config configs/scenes.py
    mmlm data generate --config configs/scenes.py:smoke     # tiny, for tests and laptops
"""

import dataclasses

from mmlm.config import DataConfig, ExperimentConfig, ScenesConfig, TrainerConfig


def get_config(smoke=False):
    config = ExperimentConfig(name="scenes")
    if not smoke:
        return config
    return dataclasses.replace(
        config,
        name="scenes_smoke",
        data=DataConfig(
            scenes=ScenesConfig(num_train=24, num_validation=8, num_test=16),
            global_batch_size=4,
            shuffle_buffer=32,
        ),
        trainer=TrainerConfig(steps=4, warmup_steps=1, checkpoint_every=2),
    )
