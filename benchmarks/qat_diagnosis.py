"""Where quantization-aware training loses retrieval: per tower, per conversion.

For a run whose `mmlm compress` has fine-tuned the QAT variant (`WORKDIR/compress/qat`), this
restores that QAT backbone (the finished fine-tuning is read back, nothing trains) and compares,
on the test examples, every modality's embeddings against the float Keras model's:

- the QAT Keras model itself (fake quantization simulated in float),
- with `--finetune-control`, the float model fine-tuned as long, without fake quantization,
- `.tflite` files given with `--tflite NAME=PATH` (e.g. the report's `full_int8.tflite` and
  `qat_int8.tflite`),
- the QAT model converted here with each of `--convert` (`int8`: full integer with the
  trained ranges; `dynamic`: int8 kernels, float activations).

It prints, per variant, the mean and minimum cosine of each embedding to float and R@1.

    python benchmarks/qat_diagnosis.py --config runs/scenes/config.yaml --workdir runs/scenes \
        --tflite full_int8=runs/scenes/compress/full_int8.tflite --convert dynamic
"""

import argparse
import json
import os

from mmlm.config.loader import load_config
from mmlm.experiments.artifacts import load_backbone
from mmlm.experiments.compress import (
    keras_embeddings,
    recall_at_1,
    tflite_embeddings,
    tower_error,
)
from mmlm.experiments.compression_finetune import finetune_backbone, quantization_aware_finetune
from mmlm.experiments.data import ExperimentData
from mmlm.experiments.export import convert_on_device, on_device_examples, on_device_module
from mmlm.serving.tflite_runner import TFLiteRunner


def cosines(embeddings, reference):
    """modality → (mean, min) cosine of each row to the same row of `reference`."""
    error = tower_error(reference, embeddings)
    return {m: (e["cosine_mean"], e["cosine_min"]) for m, e in error.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--tflite", action="append", default=[], help="NAME=PATH")
    parser.add_argument("--convert", action="append", default=[], help="dynamic, int8, ...")
    parser.add_argument("--examples", type=int, default=0, help="0 = the whole test split")
    parser.add_argument(
        "--finetune-control",
        action="store_true",
        help="also fine-tune the float model with the QAT variant's steps and learning rate, "
        "without fake quantization (WORKDIR/compress/float_finetune): what fine-tuning alone does",
    )
    parser.add_argument("--out-dir", default=None, help="where converted files go")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    config = load_config(args.config)
    data = ExperimentData(config, args.workdir)
    count = args.examples or data.source.num_examples("test")
    examples = list(on_device_examples(data, "test", count))
    float_module = on_device_module(config, data, load_backbone(args.workdir), caption=False)
    reference = keras_embeddings(float_module, examples)
    qat = quantization_aware_finetune(
        config,
        load_backbone(args.workdir),
        os.path.join(args.workdir, "compress", "qat"),
        init_from=args.workdir,
        log=lambda line: None,
    )
    qat_module = on_device_module(
        config, data, qat["backbone"], qat["embedding_models"], caption=False
    )
    variants = {"float Keras": reference, "QAT Keras": keras_embeddings(qat_module, examples)}
    if args.finetune_control:
        c = config.compression
        tuned = finetune_backbone(
            config,
            load_backbone(args.workdir),
            os.path.join(args.workdir, "compress", "float_finetune"),
            steps=c.finetune_steps,
            learning_rate=c.finetune_learning_rate,
            init_from=args.workdir,
            log=print,
        )
        tuned_module = on_device_module(config, data, tuned, caption=False)
        variants["float fine-tuned, no QAT (Keras)"] = keras_embeddings(tuned_module, examples)
    for item in args.tflite:
        name, path = item.split("=", 1)
        with open(path, "rb") as f:
            variants[name] = tflite_embeddings(TFLiteRunner(f.read(), num_threads=1), examples)
    out_dir = args.out_dir or os.path.join(args.workdir, "compress", "qat_diagnosis")
    os.makedirs(out_dir, exist_ok=True)
    for quantize in args.convert:
        content = convert_on_device(
            config, data, qat_module, quantize, config.compression.representative_examples
        )
        path = os.path.join(out_dir, f"qat_{quantize}.tflite")
        with open(path, "wb") as f:
            f.write(content)
        name = f"QAT → {quantize} .tflite ({len(content) / 1e6:.2f} MB)"
        variants[name] = tflite_embeddings(TFLiteRunner(content, num_threads=1), examples)
    report = {}
    print(f"{len(examples)} test examples; cosine of each embedding to the float Keras model's")
    print(f"{'variant':<38} {'text':>13} {'image':>13} {'audio':>13}  t→i R@1  t→a R@1")
    for name, embeddings in variants.items():
        cos, r1 = cosines(embeddings, reference), recall_at_1(embeddings)
        report[name] = {"cosine": cos, "R@1": r1}
        cells = " ".join(f"{cos[m][0]:.4f}/{cos[m][1]:.3f}" for m in ("text", "image", "audio"))
        print(f"{name:<38} {cells}  {r1['text_to_image']:.3f}    {r1['text_to_audio']:.3f}")
    print("(cosine: mean/min over the examples)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
