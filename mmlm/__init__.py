"""mmlm: a tf_keras framework for multimodal language models (text, images, audio).

The public API, in pipeline order (each name is documented where it is defined):

    Config      ExperimentConfig, load_config
    Data        load_data, ExperimentData, MultimodalPreprocessor, TextPreprocessor,
                ImagePreprocessor, AudioPreprocessor
    Models      MultimodalBackbone (alias Backbone), TextEncoder, ViTEncoder,
                AudioSpectrogramEncoder, CrossModalFusionEncoder, TextDecoder, build_backbone
    Tasks       PretrainingTask, ClassificationTask, GenerationTask, build_pretraining_task
    Workflows   pretrain, finetune, evaluate, export  (what the `mmlm` commands run)
    Presets     PresetError; `from_preset` / `save_to_preset` on the backbone, the preprocessor
                and the tasks (saved_models/README.md)
    Keras       keras: the tf_keras module mmlm runs on (use it, not `import keras`)

Quick start with your own manifest (docs/manifest.md):

    import mmlm
    config = mmlm.load_config("configs/manifest.py", ["data.manifest.path=my/manifest.jsonl"])
    mmlm.load_data(config)                 # ingest, check and split the manifest
    mmlm.pretrain(config, "runs/mine")     # resumable; TensorBoard in runs/mine/tensorboard
    metrics = mmlm.evaluate(config, "runs/mine")
    backbone = mmlm.MultimodalBackbone.from_preset("runs/mine/model")
"""

import importlib

from mmlm import backend  # noqa: F401  (selects tf_keras before anything else imports Keras)

__version__ = "0.1.0"

# Public name → module defining it; imported on first use, so `import mmlm` stays light.
_PUBLIC = {
    "ExperimentConfig": "mmlm.config",
    "load_config": "mmlm.config",
    "load_data": "mmlm.experiments.data",
    "ExperimentData": "mmlm.experiments.data",
    "MultimodalPreprocessor": "mmlm.data.preprocessing.multimodal_preprocessor",
    "TextPreprocessor": "mmlm.data.preprocessing.text_preprocessor",
    "ImagePreprocessor": "mmlm.data.preprocessing.image_preprocessor",
    "AudioPreprocessor": "mmlm.data.preprocessing.audio_preprocessor",
    "MultimodalBackbone": "mmlm.models",
    "TextEncoder": "mmlm.models",
    "ViTEncoder": "mmlm.models",
    "AudioSpectrogramEncoder": "mmlm.models",
    "CrossModalFusionEncoder": "mmlm.models",
    "TextDecoder": "mmlm.models",
    "build_backbone": "mmlm.tasks.builders",
    "PretrainingTask": "mmlm.tasks.pretraining_task",
    "ClassificationTask": "mmlm.tasks.classification_task",
    "GenerationTask": "mmlm.tasks.generation_task",
    "build_pretraining_task": "mmlm.tasks.builders",
    "pretrain": "mmlm.experiments.pretrain",
    "finetune": "mmlm.experiments.finetune",
    "evaluate": "mmlm.experiments.evaluate",
    "export": "mmlm.experiments.export",
    "PresetError": "mmlm.preset_files",
}
_ALIASES = {"Backbone": "MultimodalBackbone"}

__all__ = sorted([*_PUBLIC, *_ALIASES, "keras", "__version__"])


def __getattr__(name):
    if name == "keras":
        return backend.keras
    target = _ALIASES.get(name, name)
    if target not in _PUBLIC:
        raise AttributeError(f"module 'mmlm' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[target]), target)
    globals()[name] = value
    return value


def __dir__():
    return __all__
