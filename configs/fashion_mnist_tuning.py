"""Hyperparameter search for Fashion-MNIST classification trained from scratch (`mmlm tune`).

    mmlm data generate --config configs/fashion_mnist.py       # the IDX files, once
    mmlm tune --config configs/fashion_mnist_tuning.py --workdir runs/fashion_mnist_tuning
    mmlm finetune --config configs/fashion_mnist_tuning.py --workdir runs/fashion_mnist_default
                                                                # the default, to compare

The task of `configs/fashion_mnist_classification.py` (its data and ViT, with 2 layers instead
of 4) on a budget that fits a shared 2-core machine: 200 steps of 64 images per trial,
evaluated on 640 validation images every 50 steps. TPE searches the learning rate, the weight
decay, the warmup and the model's dropout over 6 trials; trials behind the median at an
evaluation are pruned.
Results: docs/tasks.md ("Hyperparameter search").
"""

import dataclasses

from mmlm.config import (
    ParameterKind,
    SearchAlgorithm,
    SearchParameter,
    TuningConfig,
    sibling_config,
)

SEARCH_SPACE = (
    SearchParameter("trainer.learning_rate", ParameterKind.FLOAT, low=1e-4, high=1e-2, log=True),
    SearchParameter("trainer.weight_decay", ParameterKind.FLOAT, low=1e-4, high=0.3, log=True),
    SearchParameter("trainer.warmup_steps", ParameterKind.INT, low=0, high=100, step=10),
    SearchParameter("model.dropout", ParameterKind.FLOAT, low=0.0, high=0.3),
)


def get_config(smoke=False):
    config = sibling_config(__file__, "fashion_mnist_classification.py").get_config(smoke)
    tuning = TuningConfig(
        algorithm=SearchAlgorithm.TPE, parameters=SEARCH_SPACE, num_trials=6, startup_trials=4
    )
    trainer = dataclasses.replace(
        config.trainer,
        steps=200,
        warmup_steps=20,
        eval_every=50,
        eval_batches=10,
        checkpoint_every=50,
        log_every=25,
    )
    data = dataclasses.replace(config.data, global_batch_size=64)
    model = dataclasses.replace(config.model, num_layers=2)
    if smoke:
        trainer, data, model = config.trainer, config.data, config.model
        # Warmups that fit the smoke run's 3 steps.
        warmup = SearchParameter("trainer.warmup_steps", ParameterKind.INT, low=0, high=2)
        tuning = dataclasses.replace(
            tuning,
            parameters=(*SEARCH_SPACE[:2], warmup, *SEARCH_SPACE[3:]),
            num_trials=3,
            startup_trials=2,
            pruning_startup_trials=1,
        )
    return dataclasses.replace(
        config,
        name="fashion_mnist_tuning" + ("_smoke" if smoke else ""),
        data=data,
        model=model,
        trainer=trainer,
        tuning=tuning,
    )
