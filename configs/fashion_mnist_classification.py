"""Fashion-MNIST classification with the ViT encoder, fine-tuned from the masked-image pretraining
of `configs/fashion_mnist.py` on all 55,000 training labels.

    mmlm pretrain --config configs/fashion_mnist.py --workdir runs/fashion_mnist   # first
    mmlm finetune --config configs/fashion_mnist_classification.py \
        --init-from runs/fashion_mnist --workdir runs/fashion_mnist_classification
    mmlm evaluate --config configs/fashion_mnist_classification.py \
        --workdir runs/fashion_mnist_classification \
        --json runs/fashion_mnist_classification/metrics.json

Semi-supervised runs on a labelled subset: `configs/fashion_mnist_semi_supervised.py`.
"""

import os

from mmlm.config import TaskConfig, TaskKind, load_config_module

TASK = TaskConfig(
    kind=TaskKind.CLASSIFICATION, modality="image", label_feature="label", num_classes=10
)


def get_config(smoke=False):
    fashion_mnist = load_config_module(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "fashion_mnist.py")
    )
    return fashion_mnist.finetuning_config(
        "fashion_mnist_classification",
        TASK,
        smoke,
        steps=2000,
        learning_rate=1e-3,
        warmup_steps=100,
        eval_every=500,
    )
