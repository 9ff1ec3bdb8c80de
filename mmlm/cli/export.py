"""`mmlm export` and `mmlm tflite-run`."""

from mmlm.cli import common

QUANTIZE_CHOICES = ("none", "float16", "dynamic", "int8")


def add_parsers(subparsers):
    export = subparsers.add_parser(
        "export",
        help="export a trained run as a SavedModel (raw-input signatures) or a .tflite",
        description=(
            "SavedModel: signatures embed_text, embed_image[_float|_bytes], embed_audio[_wav], "
            "caption[_image|_audio] and serving_default, preprocessing in the graph. TFLite: "
            "embed_text/embed_image/embed_audio (+ caption) with built-in ops only, and "
            "OUT.json with the preprocessing a device needs. Preset: backbone, preprocessing and "
            "config for the Python API."
        ),
    )
    common.add_trained_run_arguments(export)
    export.add_argument(
        "--format",
        choices=("savedmodel", "tflite", "preset"),
        default="savedmodel",
        help="preset: a directory that MultimodalBackbone.from_preset (and the task classes' "
        "from_preset) load, with the preprocessing and config (saved_models/README.md)",
    )
    export.add_argument(
        "--quantize",
        choices=QUANTIZE_CHOICES,
        default=None,
        help="TFLite quantization (default: the config's export.quantize)",
    )
    export.add_argument(
        "--prune-sparsity",
        type=float,
        default=0.0,
        help="prune to this sparsity first, fine-tuning with the pretraining objectives "
        "(compression.* settings; checkpoints in WORKDIR/compress/pruned_S)",
    )
    export.add_argument("--out", required=True, help="SavedModel directory or .tflite path")
    export.set_defaults(run=run_export)

    run = subparsers.add_parser(
        "tflite-run",
        help="on-device inference: embed/caption files with a .tflite (ai-edge-litert)",
        description="Embeds each --text/--image/--audio, prints their cosine similarities and, "
        "with the caption signature, a caption of each image and audio file.",
    )
    run.add_argument("--model", required=True, help=".tflite written by `mmlm export`")
    run.add_argument("--text", action="append", default=[], help="a text (repeatable)")
    run.add_argument("--image", action="append", default=[], help="an image file (repeatable)")
    run.add_argument("--audio", action="append", default=[], help="a WAV/FLAC file (repeatable)")
    run.add_argument("--no-caption", action="store_true", help="skip captioning")
    run.add_argument("--threads", type=int, default=1, help="interpreter threads")
    run.set_defaults(run=run_tflite)


def run_export(args):
    from mmlm.experiments.export import export

    config, workdir = common.resolve_trained_run(args)
    backbone = None
    if args.prune_sparsity:
        from mmlm.experiments.compress import pruned_backbone

        backbone = pruned_backbone(config, workdir, args.prune_sparsity)
    export(config, workdir, args.out, args.format, args.quantize, backbone=backbone)
    return 0


def run_tflite(args):
    from mmlm.serving.on_device_runner import OnDeviceRunner, similarity_table

    if not (args.text or args.image or args.audio):
        raise SystemExit("mmlm tflite-run: give at least one --text, --image or --audio")
    runner = OnDeviceRunner(args.model, num_threads=args.threads)
    embeddings = {}
    for kind, values, embed in (
        ("text", args.text, runner.embed_text),
        ("image", args.image, runner.embed_image),
        ("audio", args.audio, runner.embed_audio),
    ):
        for value in values:
            embedding = embed(value)
            embeddings[f"{kind}: {value}"] = embedding
            head = " ".join(f"{x:+.3f}" for x in embedding[:6])
            print(f"{kind} {value!r}: embedding[{len(embedding)}] = [{head} ...]")
    if len(embeddings) > 1:
        print("cosine similarities:")
        print("\n".join(similarity_table(embeddings)))
    if not args.no_caption and "caption" in runner.signatures:
        for path in args.image:
            print(f"caption of {path}: {runner.caption(image_path=path)}")
        for path in args.audio:
            print(f"caption of {path}: {runner.caption(audio_path=path)}")
    return 0
