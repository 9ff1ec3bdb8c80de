"""`compress(config, workdir)`: the compression report of a trained run.

Every variant becomes a `.tflite` with the three embedding signatures (captioning is left out
so that sizes compare like with like), and is measured as a device would run it: file and gzip
size, batch-1 latency per signature through ai-edge-litert (median of repeated runs), and
test-split retrieval R@1 computed from the embeddings the `.tflite` itself produces. The float
Keras model on the same examples is the reference.
"""

import dataclasses
import gzip
import hashlib
import os

import numpy as np

from mmlm import atomic_files
from mmlm.config.sections import Quantization
from mmlm.evaluation.retrieval import retrieval_report
from mmlm.experiments.artifacts import load_backbone
from mmlm.experiments.data import ExperimentData
from mmlm.experiments.export import convert_on_device, on_device_examples, on_device_module
from mmlm.experiments.model_card import write_model_card
from mmlm.serving.tflite_runner import TFLiteRunner

EMBEDDING_SIGNATURES = ("embed_text", "embed_image", "embed_audio")
_MODALITY = {"embed_text": "text", "embed_image": "image", "embed_audio": "audio"}
REPORTED_DIRECTIONS = ("text_to_image", "text_to_audio")
# What a variant's model card shows of its report row.
_CARD_MEASUREMENTS = ("quantize", "size_bytes", "gzip_bytes", "latency_ms", "R@1", "R@1_change")


@dataclasses.dataclass
class Variant:
    """One compressed model: how to get its backbone (or embedding models) and quantize it."""

    name: str
    quantize: Quantization
    backbone: object
    embedding_models: dict = None


def pruned_backbone(config, workdir, sparsity, backbone=None, log=print, m_by_n=None):
    """The run's backbone pruned to `sparsity` while fine-tuning (stripped, float32).

    Each kind of pruning fine-tunes in its own directory under `workdir/compress`
    (`pruned_50`, `pruned_2of4`, ...): a rerun resumes or restores only its own run.
    """
    from mmlm.experiments.compression_finetune import prune_and_finetune

    backbone = backbone if backbone is not None else load_backbone(workdir)
    variant_dir = os.path.join(workdir, "compress", f"pruned_{pruning_label(sparsity, m_by_n)}")
    pruned, _ = prune_and_finetune(
        config, backbone, sparsity, variant_dir, init_from=workdir, log=log, m_by_n=m_by_n
    )
    return pruned


def pruning_label(sparsity, m_by_n=None):
    """`80` for unstructured 80 % sparsity, `2of4` for 2:4 structured sparsity."""
    return f"{m_by_n[0]}of{m_by_n[1]}" if m_by_n else f"{round(sparsity * 100)}"


def build_variants(config, workdir, backbone, log=print):
    """The report's variants, in table order.

    `backbone` (the run's, float) serves the post-training variants; pruning and QAT each
    fine-tune their own fresh copy loaded from `workdir`.
    """
    variants = [
        Variant("float32", Quantization.NONE, backbone),
        Variant("float16", Quantization.FLOAT16, backbone),
        Variant("dynamic_int8", Quantization.DYNAMIC, backbone),
        Variant("full_int8", Quantization.INT8, backbone),
    ]
    c = config.compression
    if c.selective_int8:
        variants.append(Variant("selective_int8", Quantization.SELECTIVE_INT8, backbone))
    if c.qat:
        from mmlm.experiments.compression_finetune import quantization_aware_finetune

        qat = quantization_aware_finetune(
            config,
            load_backbone(workdir),
            os.path.join(workdir, "compress", "qat"),
            init_from=workdir,
            log=log,
        )
        # Full-integer, like `full_int8`: the fake-quant ranges learned in training replace
        # calibration where the model has them.
        variants.append(
            Variant("qat_int8", Quantization.INT8, qat["backbone"], qat["embedding_models"])
        )
    prunings = [(sparsity, None) for sparsity in c.pruning_sparsities]
    if c.structured_2_4:
        prunings.append((0.5, (2, 4)))
    for sparsity, m_by_n in prunings:
        pruned = pruned_backbone(
            config, workdir, sparsity, load_backbone(workdir), log=log, m_by_n=m_by_n
        )
        name = f"pruned{pruning_label(sparsity, m_by_n)}_int8"
        variants.append(Variant(name, Quantization.DYNAMIC, pruned))
    if c.distilled_workdir:
        variants.append(
            Variant("distilled_int8", Quantization.DYNAMIC, load_backbone(c.distilled_workdir))
        )
    return variants


def latency_ms(runner, examples, signature, runs):
    """Median wall time (ms) of a batch-1 call of `signature`, after two warm-up calls."""
    return float(np.median(runner.time_calls(examples[0][signature], signature, runs)))


def tflite_embeddings(runner, examples):
    """modality → (N, D) embeddings of `examples` computed by the `.tflite`."""
    return {
        _MODALITY[s]: np.concatenate([runner(example[s], s) for example in examples])
        for s in EMBEDDING_SIGNATURES
    }


def keras_embeddings(module, examples):
    """The same embeddings from an `OnDeviceModule`'s Keras functions (the float reference)."""
    functions = {
        "embed_text": module.text,
        "embed_image": module.image,
        "embed_audio": module.audio,
    }
    return {
        _MODALITY[s]: np.concatenate(
            [functions[s](**example[s])["embedding"].numpy() for example in examples]
        )
        for s in EMBEDDING_SIGNATURES
    }


def tower_error(reference, embeddings):
    """Per modality: cosine (mean, min over examples) and SNR (dB) of `embeddings` against
    `reference` (modality → (N, D)), SNR = 10 log10(Σ ref² / Σ (got - ref)²); `snr_db` is None
    when the two are equal (infinite SNR, which strict JSON cannot hold)."""
    error = {}
    for modality, expected in reference.items():
        got = embeddings[modality]
        norms = np.linalg.norm(got, axis=-1) * np.linalg.norm(expected, axis=-1)
        cosine = np.sum(got * expected, axis=-1) / np.maximum(norms, 1e-12)
        noise = float(np.sum((got - expected) ** 2))
        signal = float(np.sum(expected**2))
        error[modality] = {
            "cosine_mean": float(np.mean(cosine)),
            "cosine_min": float(np.min(cosine)),
            "snr_db": None if noise == 0 else 10 * float(np.log10(signal / noise)),
        }
    return error


def recall_at_1(embeddings):
    report = retrieval_report(embeddings)
    return {direction: report[direction]["R@1"] for direction in REPORTED_DIRECTIONS}


def measure(config, data, variant, examples, out_dir, reference=None, log=print):
    """Converts one variant and measures size, latency and R@1 of its `.tflite`.

    With `reference` (the float32 `.tflite`'s embeddings of `examples`), the row also has
    `tower_error` (`tower_error`); without it, the row's own embeddings are kept under
    `"embeddings"` (the caller pops them) to serve as the reference of the others.
    """
    module = on_device_module(
        config, data, variant.backbone, variant.embedding_models, caption=False
    )
    content = convert_on_device(
        config, data, module, variant.quantize, config.compression.representative_examples
    )
    path = os.path.join(out_dir, f"{variant.name}.tflite")
    atomic_files.write_bytes(path, content)
    runner = TFLiteRunner(content, num_threads=1)
    runs = config.compression.latency_runs
    latency = {s: latency_ms(runner, examples, s, runs) for s in EMBEDDING_SIGNATURES}
    row = {
        "variant": variant.name,
        "quantize": variant.quantize.value,
        "path": path,
        "sha256": hashlib.sha256(content).hexdigest(),  # which file these numbers are of
        "size_bytes": len(content),
        "gzip_bytes": len(gzip.compress(content, compresslevel=9)),
        "latency_ms": {**latency, "total": sum(latency.values())},
    }
    embeddings = tflite_embeddings(runner, examples)
    row["R@1"] = recall_at_1(embeddings)
    row["tower_error"] = tower_error(embeddings if reference is None else reference, embeddings)
    if reference is None:
        row["embeddings"] = embeddings
    log(
        f"  {variant.name:<16} {row['size_bytes'] / 1e6:6.2f} MB  gzip "
        f"{row['gzip_bytes'] / 1e6:6.2f} MB  {row['latency_ms']['total']:7.2f} ms  "
        + "  ".join(f"{d} R@1 {v:.3f}" for d, v in row["R@1"].items())
        + "  cosine to float32 "
        + " ".join(f"{m} {e['cosine_mean']:.4f}" for m, e in row["tower_error"].items())
    )
    return row


def compress(config, workdir, json_path=None, log=print):
    """Builds, converts and measures every configured variant; writes JSON, a table and a plot.

    Returns:
        The report dict: `reference` (the float Keras model's R@1 on the same examples) and
        `variants` (one row per `.tflite`, with ratios against the float32 `.tflite`).
    """
    data = ExperimentData(config, workdir)
    out_dir = os.path.join(workdir, "compress")
    os.makedirs(out_dir, exist_ok=True)
    count = config.compression.eval_examples or data.source.num_examples("test")
    examples = list(on_device_examples(data, "test", count))
    backbone = load_backbone(workdir)
    reference_module = on_device_module(config, data, backbone, caption=False)
    reference = recall_at_1(keras_embeddings(reference_module, examples))
    log(f"float Keras model on {len(examples)} test examples: R@1 {reference}")
    variants = build_variants(config, workdir, backbone, log)
    # The first variant is float32: the reference of every row's per-tower error.
    rows = [measure(config, data, variants[0], examples, out_dir, log=log)]
    float_embeddings = rows[0].pop("embeddings")
    rows += [
        measure(config, data, v, examples, out_dir, float_embeddings, log) for v in variants[1:]
    ]
    add_ratios(rows, reference)
    write_variant_cards(config, workdir, rows, log)
    report = {
        "workdir": os.path.abspath(workdir),
        "num_examples": len(examples),
        "latency": "batch 1, median of {} runs, 1 interpreter thread".format(
            config.compression.latency_runs
        ),
        "reference": {"model": "float Keras", "R@1": reference},
        "variants": rows,
    }
    log(format_report(report))
    plot_path = os.path.join(out_dir, "size_vs_recall.png")
    plot_report(report, plot_path)
    log(f"plot written to {plot_path}")
    json_path = json_path or os.path.join(out_dir, "report.json")
    atomic_files.write_json(json_path, report, indent=2)
    log(f"report written to {json_path}")
    return report


def write_variant_cards(config, workdir, rows, log=print):
    """A model card beside each variant's `.tflite`, with what was measured on that file."""
    for row in rows:
        measured = {key: row[key] for key in _CARD_MEASUREMENTS}
        write_model_card(config, workdir, row["path"], "tflite", measured, log=log)


def add_ratios(rows, reference):
    """Size, gzip and latency ratios against float32, and R@1 change against the reference."""
    base = next(row for row in rows if row["variant"] == "float32")
    for row in rows:
        row["size_ratio"] = base["size_bytes"] / row["size_bytes"]
        row["gzip_ratio"] = base["gzip_bytes"] / row["gzip_bytes"]
        row["speedup"] = base["latency_ms"]["total"] / row["latency_ms"]["total"]
        row["R@1_change"] = {d: row["R@1"][d] - reference[d] for d in reference}


def format_report(report):
    header = (
        f"{'variant':<16} {'MB':>6} {'gzip MB':>8} {'×size':>6} {'×gzip':>6} "
        f"{'ms/example':>10} {'×speed':>7} {'t→i R@1':>8} {'Δ':>7} {'t→a R@1':>8} {'Δ':>7}"
    )
    lines = [header, "-" * len(header)]
    reference = report["reference"]["R@1"]
    lines.append(
        f"{'float Keras':<16} {'':>6} {'':>8} {'':>6} {'':>6} {'':>10} {'':>7} "
        f"{reference['text_to_image']:8.3f} {'':>7} {reference['text_to_audio']:8.3f}"
    )
    for row in report["variants"]:
        r, d = row["R@1"], row["R@1_change"]
        lines.append(
            f"{row['variant']:<16} {row['size_bytes'] / 1e6:6.2f} {row['gzip_bytes'] / 1e6:8.2f} "
            f"{row['size_ratio']:6.2f} {row['gzip_ratio']:6.2f} {row['latency_ms']['total']:10.2f} "
            f"{row['speedup']:7.2f} {r['text_to_image']:8.3f} {d['text_to_image']:+7.3f} "
            f"{r['text_to_audio']:8.3f} {d['text_to_audio']:+7.3f}"
        )
    lines.append(
        f"({report['num_examples']} test examples; latency: {report['latency']}, "
        "text + image + audio)"
    )
    return "\n".join(lines + ["", format_tower_error(report["variants"])])


def format_tower_error(rows):
    """Per-tower error of each variant against the float32 `.tflite`: mean / min cosine, SNR."""
    modalities = list(rows[0]["tower_error"])
    header = f"{'variant':<16} " + " ".join(
        f"{m + ' cos mean/min':>20} {'SNR dB':>6}" for m in modalities
    )
    lines = ["per-tower error against the float32 .tflite", header, "-" * len(header)]
    for row in rows:
        cells = []
        for m in modalities:
            e = row["tower_error"][m]
            cosine = f"{e['cosine_mean']:.4f} / {e['cosine_min']:.4f}"
            snr = "inf" if e["snr_db"] is None else f"{e['snr_db']:.1f}"
            cells.append(f"{cosine:>20} {snr:>6}")
        lines.append(f"{row['variant']:<16} " + " ".join(cells))
    return "\n".join(lines)


def plot_report(report, path):
    """gzip size vs text→image R@1 of every variant (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axis = pyplot.subplots(figsize=(7, 4.5))
    for direction, marker in zip(REPORTED_DIRECTIONS, ("o", "s")):
        for row in report["variants"]:
            x, y = row["gzip_bytes"] / 1e6, row["R@1"][direction]
            axis.scatter(x, y, marker=marker, color="C0" if marker == "o" else "C1")
            axis.annotate(
                row["variant"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points"
            )
        axis.axhline(
            report["reference"]["R@1"][direction],
            linestyle=":",
            linewidth=1,
            color="C0" if marker == "o" else "C1",
            label=f"{direction} (float Keras: dotted)",
        )
    axis.set_xscale("log")
    axis.set_xlabel("gzip size of the .tflite (MB, log scale)")
    axis.set_ylabel("test R@1")
    axis.set_title(
        "Compression: size vs retrieval (circles: text→image, squares: text→audio)", fontsize=9
    )
    axis.legend(fontsize=7)
    figure.tight_layout()
    with atomic_files.replaced_file(path) as partial:
        figure.savefig(partial, dpi=120, format="png")
    pyplot.close(figure)
