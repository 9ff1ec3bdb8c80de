"""Fashion-MNIST: self-supervised masked-image pretraining of the ViT encoder (labels unused).

    apt-get install dataset-fashion-mnist          # the IDX files, /usr/share/datasets/...
    mmlm data generate --config configs/fashion_mnist.py
    mmlm pretrain --config configs/fashion_mnist.py --workdir runs/fashion_mnist
    ... then configs/fashion_mnist_classification.py fine-tunes it on the labels.

Image-only: 28x28 grayscale (as RGB) in 4x4 patches (49 tokens), MAE-style reconstruction of
60% masked patches. Horizontal flips are on (garments are left-right symmetric, unlike the
scenes, whose captions name sides). With internet access the TFDS builder reads the same data:
`--set data.source=tfds data.tfds.name=fashion_mnist data.tfds.image_feature=image
data.tfds.label_feature=label data.tfds.validation_split=train[-5000:]`.
"""

import dataclasses

from mmlm.config import (
    DataConfig,
    DataSource,
    ExperimentConfig,
    ImageConfig,
    Modality,
    ModelConfig,
    ObjectiveConfig,
    Pooling,
    Precision,
    RuntimeConfig,
    TaskConfig,
    TrainerConfig,
    smoke_variant,
)

IMAGE = ImageConfig(image_size=28, random_translation=0.1, random_contrast=0.0, random_flip=True)
MODEL = ModelConfig(image_patch_size=4, pooling=Pooling.CLASS_TOKEN, num_layers=4, dropout=0.1)
IMAGE_ONLY = ObjectiveConfig(
    contrastive_weight=0.0,
    masked_lm_weight=0.0,
    masked_image_weight=1.0,
    captioning_weight=0.0,
    masked_audio_weight=0.0,
    image_mask_ratio=0.6,
)


def get_config(smoke=False):
    data = DataConfig(
        source=DataSource.IDX,
        modalities=(Modality.IMAGE,),
        global_batch_size=128,
        shuffle_buffer=10000,
        image=IMAGE,
    )
    config = ExperimentConfig(
        name="fashion_mnist",
        data=data,
        model=MODEL,
        objective=IMAGE_ONLY,
        trainer=TrainerConfig(
            steps=1000, learning_rate=1e-3, warmup_steps=100, eval_every=500, checkpoint_every=250
        ),
        runtime=RuntimeConfig(precision=Precision.MIXED_BFLOAT16),
    )
    if not smoke:
        return config
    return smoke_variant(config, steps=3, eval_every=3, global_batch_size=8, shuffle_buffer=64)


def finetuning_config(name, task: TaskConfig, smoke=False, **trainer_changes):
    """A task fine-tuned from this file's pretrained encoder (same model and data)."""
    config = get_config(smoke)
    trainer = config.trainer
    if not smoke:
        trainer = dataclasses.replace(trainer, **trainer_changes)
    return dataclasses.replace(
        config, name=name + ("_smoke" if smoke else ""), task=task, trainer=trainer
    )
