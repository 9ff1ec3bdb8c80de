"""Cross-modal attention of a trained run: TensorBoard images and `mmlm explain`'s PNG overlay.

The maps come from `MultimodalBackbone.attention_model` (the fusion's own layers; the saved
model is not changed). Text queries look at the image patches and audio frames of the same
example; `explain` draws that heat over the image and as a strip over the spectrogram.
"""

import numpy as np

from mmlm.config import ConfigError
from mmlm.evaluation.attention_plot import figure_size, patch_heat, plot_attention_overlay
from mmlm.experiments.artifacts import load_backbone
from mmlm.experiments.data import ExperimentData
from mmlm.models import ENCODER_INPUTS
from mmlm.training.summaries import write_attention_maps


def model_inputs(backbone, batch):
    """The features of `batch` the backbone's encoders and presence flags read."""
    keys = [name for m in backbone.modalities for name in ENCODER_INPUTS[m]]
    keys += [f"{m}_present" for m in backbone.modalities]
    return {key: batch[key] for key in keys}


def attention_maps(backbone, batch, model=None):
    """{"layer_L/m": (B, heads, Lq, Lk) NumPy} of a batch (`model`: a cached attention model)."""
    model = model if model is not None else backbone.attention_model()
    maps = model(model_inputs(backbone, batch), training=False)
    return {name: np.asarray(value) for name, value in maps.items()}


def has_cross_attention(backbone):
    fusion = backbone.fusion_encoder
    return fusion is not None and len(fusion.modalities) > 1 and fusion.num_layers > 0


def write_attention_summaries(backbone, batch, log_dir, step=0, max_examples=3, model=None):
    """Writes the maps of the first `max_examples` rows of `batch` to TensorBoard.

    Returns the tags written (`attention/layer_L/m/head_H`), none when the backbone has no
    cross-modal attention.
    """
    if not has_cross_attention(backbone):
        return []
    rows = {key: value[:max_examples] for key, value in model_inputs(backbone, batch).items()}
    maps = attention_maps(backbone, rows, model)
    return write_attention_maps(log_dir, maps, step=step, max_outputs=max_examples)


def _one_example(data, split, index):
    dataset = data.dataset(split, masks=False, training=False).unbatch()
    for example in dataset.skip(index).take(1).batch(1):
        return {key: value.numpy() for key, value in example.items()}
    count = data.source.num_examples(split)
    raise ConfigError(f"--index {index}: split {split!r} has {count} examples (0 to {count - 1})")


def _token_rows(weights, token_ids, vocabulary, max_tokens):
    """[(label, (Lk,) weights)]: the mean over real tokens, then the first `max_tokens`."""
    rows = [("mean of tokens", weights.mean(axis=0))]
    for position, token in enumerate(token_ids[: len(weights)][:max_tokens]):
        rows.append((f"{position}: {vocabulary[int(token)]}", weights[position]))
    return rows


def _heats(backbone, weights, segments, example, spectrogram):
    """{modality: heat} of one query's key weights, for the modalities the example has."""
    heats = {}
    if "image" in segments and example["image_present"][0]:
        encoder = backbone.image_encoder
        side = encoder.image_size // encoder.patch_size
        shape = example["images"].shape[1:3]
        heats["image"] = patch_heat(weights[segments["image"]], (side, side), shape)
    if "audio" in segments and example["audio_present"][0]:
        frontend = backbone.audio_encoder.frontend
        time_patches, mel_patches = frontend.patch_grid(backbone.audio_encoder.num_samples)
        per_patch = weights[segments["audio"]].reshape(time_patches, mel_patches).sum(axis=1)
        frames = np.zeros(len(spectrogram), np.float32)
        covered = np.repeat(per_patch, frontend.patch_size)  # (time_patches · patch_size,)
        frames[: len(covered)] = covered
        heats["audio"] = frames
    return heats


def explain(
    config, workdir, out, split="test", index=0, layer=None, head=None, max_tokens=8, log=print
):
    """Writes a PNG of where the text of one example attends in its image and audio.

    Args:
        config: the run's `ExperimentConfig`; workdir: the run directory.
        out: the PNG path.
        split, index: the example (its position in the split, in file order).
        layer: the fusion layer (default: the last); head: one head (default: their mean).
        max_tokens: rows for the first this many tokens (after the mean over all tokens).
    Returns:
        {"png", "size" (width, height), "tokens", "attention_share": {modality: mean share of
        the text's attention}}.
    """
    data = ExperimentData(config, workdir)
    example = _one_example(data, split, index)  # a bad index fails before the model loads
    if not example["text_present"][0]:
        raise ConfigError(f"example {index} of {split!r} has no text to explain")
    backbone = load_backbone(workdir)
    if "text" not in backbone.modalities or not has_cross_attention(backbone):
        raise ConfigError("explain needs a backbone whose fusion has text and another modality")
    fusion = backbone.fusion_encoder
    layer = fusion.num_layers - 1 if layer is None else layer
    if not 0 <= layer < fusion.num_layers:
        raise ConfigError(f"--layer {layer}: the fusion has layers 0 to {fusion.num_layers - 1}")
    if head is not None and not 0 <= head < fusion.num_heads:
        raise ConfigError(f"--head {head}: the fusion has heads 0 to {fusion.num_heads - 1}")
    maps = attention_maps(backbone, example)[f"layer_{layer}/text"][0]  # (heads, Lq, Lk)
    weights = maps.mean(axis=0) if head is None else maps[head]  # (Lq, Lk)
    length = int(example["padding_mask"][0].sum())
    weights = weights[:length]
    segments = backbone.attention_key_segments(example["token_ids"].shape[1])["text"]
    spectrogram = None
    if "audio" in segments and example["audio_present"][0]:
        frontend = backbone.audio_encoder.frontend(example["audio"], example["audio_padding_mask"])
        spectrogram = np.asarray(frontend["spectrogram"][0])  # (T, M)
    image = example["images"][0] if "image" in segments and example["image_present"][0] else None
    if image is None and spectrogram is None:
        raise ConfigError(f"example {index} of {split!r} has neither an image nor audio")
    rows = [
        (label, _heats(backbone, w, segments, example, spectrogram))
        for label, w in _token_rows(weights, example["token_ids"][0], data.vocabulary, max_tokens)
    ]
    share = {m: float(weights[:, s].sum(axis=1).mean()) for m, s in segments.items()}
    head_name = "mean of heads" if head is None else f"head {head}"
    title = f"{split} #{index}, fusion layer {layer}, {head_name}; " + ", ".join(
        f"{m} {v:.2f}" for m, v in share.items()
    )
    plot_attention_overlay(out, rows, image=image, spectrogram=spectrogram, title=title)
    columns = (image is not None) + (spectrogram is not None)
    log(f"attention of {len(rows) - 1} tokens written to {out} (share of attention: {share})")
    return {
        "png": out,
        "size": figure_size(columns, len(rows)),
        "tokens": [label for label, _ in rows[1:]],
        "attention_share": share,
    }
