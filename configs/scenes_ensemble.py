"""A bagged ensemble of small text-image pretraining runs on the scenes (`mmlm ensemble`).

    mmlm data generate --config configs/scenes_ensemble.py
    mmlm ensemble --config configs/scenes_ensemble.py --members 3 \
        --workdir runs/scenes_ensemble --export saved_models/scenes_ensemble

The demo's model and objectives (`configs/scenes.py`) without audio, on 1,000 training scenes
for 200 steps per member: a budget for a shared 2-core machine. Each member trains on its own
bootstrap resample of the training split; test retrieval compares the ensemble (the members'
mean cosine similarity) with its best member. Results: docs/tasks.md ("Ensembles").
"""

import dataclasses

from mmlm.config import Modality, sibling_config


def get_config(smoke=False):
    config = sibling_config(__file__, "scenes.py").get_config(smoke)
    data = dataclasses.replace(config.data, modalities=(Modality.TEXT, Modality.IMAGE))
    trainer = config.trainer
    if not smoke:
        data = dataclasses.replace(
            data,
            scenes=dataclasses.replace(
                data.scenes, num_train=1000, num_validation=100, num_test=300
            ),
        )
        trainer = dataclasses.replace(
            trainer, steps=200, warmup_steps=20, eval_every=100, checkpoint_every=100
        )
    return dataclasses.replace(
        config,
        name="scenes_ensemble" + ("_smoke" if smoke else ""),
        data=data,
        trainer=trainer,
    )
