"""Your own data: a manifest of texts, images and/or audio files (format: docs/manifest.md).

Change only the manifest path, here or on the command line:

    mmlm data generate --config configs/manifest.py --set data.manifest.path=my/manifest.jsonl
    mmlm pretrain --config configs/manifest.py --set data.manifest.path=my/manifest.jsonl \
        --workdir runs/my_data
    mmlm evaluate --workdir runs/my_data --json runs/my_data/metrics.json
    ... --config configs/manifest.py:smoke    # a few steps, for tests and a first try

What adapts to the data, so nothing here names a data set:
- the vocabulary is sized from the training texts (`data.text.vocabulary_size=0`: a token for
  every word seen twice, plus pieces; 500 to 16,000);
- training takes 30 passes over the training split (`trainer.epochs`), at most 20,000 steps;
  about 0.3 s a step of 32 with the tiny model on 2 CPU cores;
- without validation rows in the manifest, 10 % of its train rows (seeded by `data.seed`) are
  carved out as the validation split, and the ingestion report counts them;
- `mmlm evaluate` reports retrieval in every direction the data has and, with a `label`
  column, zero-shot classification from the prompts below.

There are no hard-negative captions (they name words of one data set; see configs/scenes.py)
and the decoded examples are not cached in memory (their size is the data's; set
`data.cache_examples=true` when the decoded training split fits in RAM: it saves about a
third of the step time).
"""

from mmlm.config import (
    DataConfig,
    DataSource,
    EvaluationConfig,
    ExperimentConfig,
    ManifestConfig,
    ObjectiveConfig,
    TextConfig,
    TrainerConfig,
    sibling_config,
    smoke_variant,
)

MANIFEST = "my_data/manifest.jsonl"


def get_config(smoke=False):
    scenes = sibling_config(__file__, "scenes.py")
    config = ExperimentConfig(
        name="manifest",
        data=DataConfig(
            source=DataSource.MANIFEST,
            manifest=ManifestConfig(path=MANIFEST, validation_fraction=0.1),
            text=TextConfig(vocabulary_size=0, sequence_length=32, extra_text_features=()),
            # Up to 7 s of speech; 512-point FFTs and a 20 ms hop, as the scenes demo.
            audio=scenes.AUDIO,
        ),
        # The architecture the scenes ablations chose (docs/pretraining.md): mean pooling,
        # fixed 2-D sin-cos patch positions and a convolutional stem before the patches.
        model=scenes.MODEL,
        objective=ObjectiveConfig(masked_audio_weight=0.0, captioning_batch_fraction=0.25),
        trainer=TrainerConfig(
            steps=20_000, epochs=30, warmup_steps=100, eval_every=500, checkpoint_every=250
        ),
        evaluation=EvaluationConfig(prompts=("a picture of {}", "{}")),
        runtime=scenes.RUNTIME,  # float32 under XLA
    )
    if not smoke:
        return config
    return smoke_variant(config, steps=4, eval_every=2, global_batch_size=4, shuffle_buffer=32)
