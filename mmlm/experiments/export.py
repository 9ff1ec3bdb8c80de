"""`export(...)`: a trained run → a SavedModel with raw-input signatures, or a `.tflite`.

A `.tflite` is written with a sidecar `PATH.json` holding what on-device preprocessing needs
(vocabulary, text length, image size, sample rate, special token ids): `mmlm tflite-run` and
device code read it, so the flatbuffer plus its JSON are all a device needs.
"""

import hashlib
import os

import numpy as np

from mmlm import atomic_files
from mmlm.compression.tflite import convert_signatures
from mmlm.config.sections import Quantization
from mmlm.data import factory
from mmlm.data.preprocessing.image_preprocessor import ImagePreprocessor
from mmlm.experiments.artifacts import load_backbone
from mmlm.experiments.data import ExperimentData
from mmlm.experiments.model_card import write_model_card
from mmlm.serving.export import ServingModule, export_saved_model, special_token_ids
from mmlm.serving.on_device import CAPTION_SIGNATURES, OnDeviceModule


def caption_length(config):
    """Decoder buffer length of exported caption signatures."""
    return config.export.caption_max_length or config.data.text.sequence_length


def serving_module(config, data, backbone):
    """The SavedModel signatures of `backbone` with `config`'s preprocessing (a model without
    text, such as Fashion-MNIST's, has no vocabulary and no text preprocessing)."""
    return ServingModule(
        backbone,
        data.text_preprocessor() if "text" in backbone.modalities else None,
        ImagePreprocessor(config.data.image.image_size, name="image_preprocessor"),
        factory.audio_preprocessor(config.data),
        caption_max_length=caption_length(config),
        num_beams=config.generation.num_beams,
        length_penalty=config.generation.length_penalty,
        max_image_pixels=config.data.image.max_pixels,
        max_audio_seconds=config.data.audio.max_seconds,
        max_text_bytes=config.data.text.max_bytes,
        sampling=sampling_arguments(config.generation),
    )


def sampling_arguments(generation):
    """The exported sampling settings of a `GenerationConfig` (`Generator` arguments)."""
    return {
        "temperature": generation.temperature,
        "top_k": generation.top_k,
        "top_p": generation.top_p,
        "seed": None if generation.seed < 0 else generation.seed,
    }


def on_device_module(config, data, backbone, embedding_models=None, caption=True):
    """The fixed-shape TFLite signatures of `backbone`."""
    text = data.text_preprocessor()
    captioning = None
    if caption and backbone.text_decoder is not None:
        captioning = {"max_length": caption_length(config), **special_token_ids(text)}
    return OnDeviceModule(
        backbone,
        text_length=config.data.text.sequence_length,
        pad_id=text.token_id("[PAD]"),
        caption=captioning,
        embedding_models=embedding_models,
    )


def on_device_examples(data, split="train", count=128):
    """Dicts of per-signature inputs (batch 1) of `count` examples of `split`."""
    for example in data.dataset(split, masks=False).unbatch().take(count).batch(1):
        audio_length = np.sum(example["audio_padding_mask"], axis=1).astype("int32")
        yield {
            "embed_text": {"token_ids": example["token_ids"].numpy()},
            "embed_image": {"images": example["images"].numpy()},
            "embed_audio": {"audio": example["audio"].numpy(), "audio_length": audio_length},
            "caption": {
                "images": example["images"].numpy(),
                "audio": example["audio"].numpy(),
                "audio_length": audio_length,
                "image_present": np.array([True]),
                "audio_present": np.array([True]),
            },
        }


def convert_on_device(config, data, module, quantize, representative_examples=128):
    """`.tflite` bytes of `module`'s signatures, calibrated on training data for int8.

    Full-integer calibration of the caption signature's WHILE loop crashes the converter (TF
    2.21), and the step captioner's would need calibration caches, so with int8 and
    selective_int8 (float scopes: `compression.int8_float_scopes`) the caption signatures are
    left out; every other mode keeps them.
    """
    quantize = Quantization(quantize)
    signatures = module.signatures()
    integer = (Quantization.INT8, Quantization.SELECTIVE_INT8)
    if quantize not in integer:  # only full-integer conversion calibrates
        return convert_signatures(module, signatures, quantize.value)
    for name in CAPTION_SIGNATURES:
        signatures.pop(name, None)

    def representative_data():
        for example in on_device_examples(data, "train", representative_examples):
            for name in signatures:
                yield name, example[name]

    selective = quantize is Quantization.SELECTIVE_INT8
    scopes = config.compression.int8_float_scopes if selective else None
    return convert_signatures(
        module, signatures, quantize.value, representative_data, float_scopes=scopes
    )


def preprocessing_metadata(config, data, module):
    """What on-device code needs to prepare inputs for `module`'s signatures."""
    text = data.text_preprocessor()
    return {
        "modalities": list(module.modalities),
        "vocabulary": text.vocabulary,
        "lowercase": text.lowercase,
        "text_length": text.sequence_length,
        "image_size": config.data.image.image_size,
        "sample_rate": config.data.audio.sample_rate,
        "num_samples": factory.audio_preprocessor(config.data).max_samples,
        "max_pixels": config.data.image.max_pixels,
        "max_audio_seconds": config.data.audio.max_seconds,
        **special_token_ids(text),
    }


def export(config, workdir, out, fmt="savedmodel", quantize=None, backbone=None, log=print):
    """Exports the backbone trained in `workdir` (or `backbone`) to `out`.

    Args:
        config: the run's `ExperimentConfig`.
        workdir: the run directory.
        out: SavedModel directory, or `.tflite` file path.
        fmt: "savedmodel", "tflite" or "preset" (a directory `from_preset` loads; see
            saved_models/README.md).
        quantize: TFLite `Quantization` (default `config.export.quantize`).
        backbone: a backbone to export instead of the run's (e.g. a pruned one).
    Returns:
        `out`.
    """
    data = ExperimentData(config, workdir)
    if fmt == "preset":
        return export_preset(config, workdir, out, data, backbone, log)
    backbone = backbone if backbone is not None else load_backbone(workdir)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    if fmt == "savedmodel":
        # Written beside `out` and renamed into place when complete, so a crash or a full disk
        # never leaves a half-written SavedModel where TF Serving or `mmlm serve` would load it.
        # The model card goes in too, so the manifest covers it and it moves with the model.
        with atomic_files.replaced_directory(out) as partial:
            names = export_saved_model(serving_module(config, data, backbone), partial)
            write_model_card(config, workdir, out, "savedmodel", log=log, into=partial)
        log(f"SavedModel with signatures {', '.join(names)} written to {out}")
        return out
    if fmt != "tflite":
        raise ValueError(f"format must be savedmodel, tflite or preset, got {fmt!r}")
    quantize = Quantization(quantize or config.export.quantize)
    module = on_device_module(config, data, backbone)
    content = convert_on_device(
        config, data, module, quantize, config.compression.representative_examples
    )
    metadata = preprocessing_metadata(config, data, module)
    metadata["quantize"] = quantize.value
    metadata["signatures"] = _signature_names(content)
    # The sidecar names the model's digest: a crash between the two writes (each atomic) leaves
    # a pair that `OnDeviceRunner` refuses rather than a model read with another's settings.
    metadata["tflite_sha256"] = hashlib.sha256(content).hexdigest()
    atomic_files.write_bytes(out, content)
    atomic_files.write_json(out + ".json", metadata, indent=1)
    log(
        f"{quantize.value} .tflite ({len(content) / 1e6:.2f} MB) with signatures "
        f"{', '.join(metadata['signatures'])} written to {out} (+ {out}.json)"
    )
    write_model_card(config, workdir, out, "tflite", {"quantize": quantize.value}, log=log)
    return out


def export_preset(config, workdir, out, data, backbone=None, log=print):
    """Writes the run's backbone (with a fine-tuned classifier, the whole task), its
    preprocessing and its config into the preset directory `out`."""
    from mmlm.config import TaskKind, write_config
    from mmlm.experiments.finetune import load_task

    if os.path.exists(out) and os.listdir(out):
        raise FileExistsError(f"--out {out} exists and is not empty; a preset needs its own folder")
    if os.path.isdir(out):
        os.rmdir(out)  # empty: the finished preset is renamed into its place
    # Filled beside `out` and renamed into place when complete (a killed export leaves no `out`,
    # so the same command runs again).
    with atomic_files.replaced_directory(out) as partial:
        if backbone is None and config.task.kind is TaskKind.CLASSIFICATION:
            load_task(config, workdir).save_to_preset(partial)
        else:
            (backbone if backbone is not None else load_backbone(workdir)).save_to_preset(partial)
        data.preprocessor().save_to_preset(partial)
        write_config(config, partial)
        write_model_card(config, workdir, out, "preset", log=log, into=partial)
    files = sorted(f for f in os.listdir(out) if f != atomic_files.COMPLETE_MANIFEST)
    log(f"preset ({', '.join(files)}) written to {out}")
    return out


def _signature_names(content):
    from mmlm.serving.tflite_runner import TFLiteRunner

    return sorted(TFLiteRunner(content).signatures)
