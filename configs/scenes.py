"""The default experiment: the generated scenes data set (text + image + speech, en/es).

    mmlm data generate --config configs/scenes.py
    mmlm pretrain --config configs/scenes.py --workdir runs/scenes
    mmlm evaluate --config configs/scenes.py --workdir runs/scenes \
        --json runs/scenes/metrics.json
    ... --config configs/scenes.py:smoke     # tiny data and steps, for tests and laptops

The tiny model pretrains in about 11 minutes on 2 CPU cores (float32 under XLA). Masked
spectrogram modelling is available (`--set objective.masked_audio_weight=1`) but off here:
within the demo's budget its second audio pass costs more contrastive steps than it gives back.
"""

import dataclasses

from mmlm.config import (
    AudioConfig,
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    ObjectiveConfig,
    PatchPositions,
    Pooling,
    Precision,
    RuntimeConfig,
    ScenesConfig,
    TaskConfig,
    TaskKind,
    TextConfig,
    TrainerConfig,
    smoke_variant,
)

# Speech in the scenes lasts 2-6.6 s. 512-point FFTs (400-sample Hann windows) take the fast
# power-of-two RFFT path everywhere, TFLite included; a 20 ms hop halves the audio tokens.
AUDIO = AudioConfig(duration_seconds=7.0, fft_length=512, frame_step=320)
# English captions are at most 21 tokens; a few Spanish ones exceed 32 and are truncated
# (`mmlm data inspect` counts them): raise it for translation.
TEXT = TextConfig(sequence_length=32)
# Mean pooling: with a class token, left/right stayed at chance in every tower's embedding (a
# linear probe scored 0.5) while top/bottom was learned. Fixed 2-D sin-cos patch positions give
# every column one shared direction from the start: zero-shot position from images went from
# 0.47-0.69 (learned tables) to 1.00. A convolutional stem before the 8x8 patches sees strokes
# and corners: zero-shot shape from images went from 0.47 to 0.55 at the same step time.
MODEL = ModelConfig(
    pooling=Pooling.MEAN, patch_positions=PatchPositions.SINCOS, image_stem_channels=(32, 64, 128)
)
# Float32 under XLA: 302 ms a step on cached batches, mixed bfloat16 without XLA 365 ms
# (bfloat16 under XLA is slower still); compiling takes about 25 s of the first step.
RUNTIME = RuntimeConfig(precision=Precision.FLOAT32, jit_compile=True)
# Hard-negative captions: one position, shape or digit word swapped. In a random batch of 32
# scenes the colours alone tell nearly every pair apart, so without them the image tower barely
# learns where objects are (left/right was near chance) or what shape they have.
HARD_NEGATIVE_WORDS = (
    "left right",
    "top bottom",
    "circle rectangle triangle",
    "zero one two three four five six seven eight nine",
)

# The downstream tasks fine-tuned from the scenes backbone, each run through its own file
# (`configs/<name>.py`, docs/tasks.md).
TASKS = {
    "captioning": TaskConfig(kind=TaskKind.GENERATION, conditioning=("image",), target_text="text"),
    "speech_recognition": TaskConfig(
        kind=TaskKind.GENERATION, conditioning=("audio",), target_text="text"
    ),
    "translation": TaskConfig(
        kind=TaskKind.GENERATION, conditioning=(), source_text="text", target_text="text_es"
    ),
    "colour_from_speech": TaskConfig(
        kind=TaskKind.CLASSIFICATION, modality="audio", label_feature="object_color", num_classes=8
    ),
    "shape_from_caption": TaskConfig(
        kind=TaskKind.CLASSIFICATION, modality="text", label_feature="object_shape", num_classes=4
    ),
}


def get_config(smoke=False):
    config = ExperimentConfig(
        name="scenes",
        # The 2,000 decoded scenes (0.6 GB) stay in memory after the first epoch.
        data=DataConfig(audio=AUDIO, text=TEXT, cache_examples=True),
        model=MODEL,
        # Captioning decodes a quarter of each batch: on every row the fusion and the decoder
        # took 170 ms of a 450 ms step; on a quarter the step takes 365 ms (bfloat16) and test
        # text→image R@1 was the same (0.532).
        objective=ObjectiveConfig(
            masked_audio_weight=0.0,
            hard_negative_words=HARD_NEGATIVE_WORDS,
            captioning_batch_fraction=0.25,
        ),
        trainer=TrainerConfig(steps=1500, warmup_steps=100, eval_every=500, checkpoint_every=250),
        runtime=RUNTIME,
    )
    if not smoke:
        return config
    return smoke_variant(
        config,
        steps=4,
        eval_every=2,
        global_batch_size=4,
        shuffle_buffer=32,
        data=DataConfig(
            scenes=ScenesConfig(num_train=24, num_validation=8, num_test=16), audio=AUDIO
        ),
        # Every objective, so tests exercise them all. The vocabulary of 24 captions holds few
        # whole words: these two are among them.
        objective=ObjectiveConfig(hard_negative_words=("circle rectangle",)),
    )


def finetuning_config(name, task: TaskConfig, smoke=False):
    """A downstream task fine-tuned from this file's pretrained backbone (same model and data).

    The task files (`configs/captioning.py`, ...) call this; 600 steps take about 8 minutes of
    2 CPU cores with the tiny model.
    """
    config = get_config(smoke)
    trainer, runtime = config.trainer, config.runtime
    if not smoke:
        trainer = dataclasses.replace(
            trainer, steps=600, learning_rate=5e-4, warmup_steps=50, eval_every=300
        )
        # What the task heads were measured with (the pretraining's XLA was not tried here).
        runtime = RuntimeConfig(precision=Precision.MIXED_BFLOAT16)
    return dataclasses.replace(
        config,
        name=name + ("_smoke" if smoke else ""),
        task=task,
        trainer=trainer,
        runtime=runtime,
    )


def task_config(name, smoke=False):
    """`TASKS[name]` fine-tuned from this file's backbone (what `configs/<name>.py` runs)."""
    return finetuning_config(name, TASKS[name], smoke)
