"""`mmlm compress`: the compression report (pruning, QAT, PTQ, distillation → TFLite)."""

from mmlm.cli import common


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "compress",
        help="compression report: size, gzip size, TFLite latency and R@1 of each variant",
        description=(
            "Builds the configured variants of the run trained in WORKDIR (float32, float16, "
            "dynamic int8, full int8, selective int8, QAT int8, pruned + int8 for each "
            "compression.pruning_sparsities, 2:4 pruned + int8 with compression.structured_2_4, "
            "distilled student + int8), converts each to a .tflite in "
            "WORKDIR/compress and measures it on the test split with ai-edge-litert. Prints a "
            "table, writes JSON and WORKDIR/compress/size_vs_recall.png."
        ),
    )
    common.add_config_arguments(parser)
    parser.add_argument("--json", default=None, help="report JSON (default: WORKDIR/compress/)")
    parser.set_defaults(run=run_compress)


def run_compress(args):
    from mmlm.experiments.compress import compress

    config, workdir = common.resolve(args)
    compress(config, workdir, json_path=args.json)
    return 0
