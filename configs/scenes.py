"""The default experiment: the generated scenes data set (text + image + speech, en/es).

    mmlm data generate --config configs/scenes.py
    mmlm pretrain --config configs/scenes.py --workdir runs/scenes
    mmlm evaluate --config configs/scenes.py --workdir runs/scenes --json runs/scenes/metrics.json
    ... --config configs/scenes.py:smoke     # tiny data and steps, for tests and laptops

The tiny model trains for about ten minutes on 2 CPU cores.
"""

import dataclasses

from mmlm.config import (
    AudioConfig,
    DataConfig,
    ExperimentConfig,
    ScenesConfig,
    TrainerConfig,
)

# Speech in the scenes lasts 2-6.6 s; 512-point FFTs (400-sample Hann windows) take the fast
# power-of-two RFFT path on every backend, TFLite included.
AUDIO = AudioConfig(duration_seconds=7.0, fft_length=512)


def get_config(smoke=False):
    config = ExperimentConfig(
        name="scenes",
        data=DataConfig(audio=AUDIO),
        trainer=TrainerConfig(steps=600, warmup_steps=50, eval_every=200, checkpoint_every=100),
    )
    if not smoke:
        return config
    return dataclasses.replace(
        config,
        name="scenes_smoke",
        data=DataConfig(
            scenes=ScenesConfig(num_train=24, num_validation=8, num_test=16),
            global_batch_size=4,
            shuffle_buffer=32,
            audio=AUDIO,
        ),
        trainer=TrainerConfig(
            steps=4, warmup_steps=1, eval_every=2, checkpoint_every=2, log_every=1
        ),
    )
