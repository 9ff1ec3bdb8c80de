"""Pseudo-labelling on Fashion-MNIST: 1,000 labelled training images (those with index < 1000,
about 100 per class), the other 54,000 unlabelled.

    mmlm pretrain --config configs/fashion_mnist.py --workdir runs/fashion_mnist   # first
    # 1. supervised only: the labelled subset
    mmlm finetune --config configs/fashion_mnist_semi_supervised.py \
        --init-from runs/fashion_mnist --workdir runs/fm_labelled_1k
    mmlm evaluate --config configs/fashion_mnist_semi_supervised.py \
        --workdir runs/fm_labelled_1k --json runs/fm_labelled_1k/metrics.json
    # 2. label the unlabelled images the model is confident about
    mmlm pseudo-label --config configs/fashion_mnist_semi_supervised.py \
        --workdir runs/fm_labelled_1k --threshold 0.9 --out runs/fm_labelled_1k/pseudo_labels.json
    # 3. retrain from the same pretrained encoder on labelled + pseudo-labelled images
    mmlm finetune --config configs/fashion_mnist_semi_supervised.py \
        --set task.pseudo_labels=runs/fm_labelled_1k/pseudo_labels.json --set trainer.steps=2000 \
        --init-from runs/fashion_mnist --workdir runs/fm_pseudo_labelled
    mmlm evaluate ... --workdir runs/fm_pseudo_labelled ...

Both runs see the same 1,000 true labels; the test split is the full 10,000.
"""

import dataclasses

from mmlm.config import sibling_config

NUM_LABELLED = 1000


def get_config(smoke=False):
    fashion_mnist = sibling_config(__file__, "fashion_mnist.py")
    classification = sibling_config(__file__, "fashion_mnist_classification.py")
    task = dataclasses.replace(classification.TASK, num_labelled=NUM_LABELLED)
    return fashion_mnist.finetuning_config(
        "fashion_mnist_semi_supervised",
        task,
        smoke,
        steps=500,
        learning_rate=1e-3,
        warmup_steps=50,
        eval_every=250,
    )
