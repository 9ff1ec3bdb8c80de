"""A bagged ensemble of Fashion-MNIST classifiers trained from scratch (`mmlm ensemble`).

    mmlm data generate --config configs/fashion_mnist.py       # the IDX files, once
    mmlm ensemble --config configs/fashion_mnist_ensemble.py --members 3 \
        --workdir runs/fashion_mnist_ensemble --export saved_models/fashion_mnist_ensemble

Each member is the small-budget classifier of `configs/fashion_mnist_tuning.py` at its default
values (200 steps of 64 images, a 2-layer ViT) on its own bootstrap resample of the training
split. Results: docs/tasks.md ("Ensembles").
"""

import dataclasses

from mmlm.config import TuningConfig, sibling_config


def get_config(smoke=False):
    config = sibling_config(__file__, "fashion_mnist_tuning.py").get_config(smoke)
    return dataclasses.replace(
        config,
        name="fashion_mnist_ensemble" + ("_smoke" if smoke else ""),
        tuning=TuningConfig(),
    )
