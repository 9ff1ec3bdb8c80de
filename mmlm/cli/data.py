"""`mmlm data generate` and `mmlm data inspect`."""

import json

from mmlm.cli import common


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "data",
        help="prepare and inspect data sets",
        description="Prepare (generate or ingest) the data of a config and inspect it.",
    )
    commands = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    generate = commands.add_parser(
        "generate",
        help="generate scenes / ingest a manifest / prepare a TFDS set, and train the vocabulary",
        description=(
            "Makes the config's data available in data.data_dir as a TFDS data set and trains "
            "the WordPiece vocabulary on its training texts. Writes the resolved config to "
            "WORKDIR/config.yaml."
        ),
    )
    common.add_config_arguments(generate)
    _add_skip_invalid(
        generate, "skip invalid manifest records (counted and reported) instead of failing"
    )
    generate.set_defaults(run=run_generate)

    inspect = commands.add_parser(
        "inspect",
        help="counts per split, examples, durations, vocabulary and validation problems",
        description="Reports on the prepared data of a config (run `data generate` first).",
    )
    common.add_config_arguments(inspect, workdir=False)
    _add_skip_invalid(inspect, "inspect the ingestion made with --skip-invalid")
    inspect.add_argument("--examples", type=int, default=3, help="decoded examples per split")
    inspect.add_argument("--json", default=None, help="also write the report as JSON here")
    inspect.set_defaults(run=run_inspect)

    examples = commands.add_parser(
        "export-examples",
        help="write examples of a split as PNG, WAV and caption files",
        description="Writes OUT/example_I.{png,wav,txt} for the first COUNT examples of a split "
        "(inputs for `mmlm tflite-run`, the SavedModel's byte signatures and `mmlm serve`).",
    )
    common.add_config_arguments(examples, workdir=False)
    examples.add_argument("--split", default="test", help="split (default: test)")
    examples.add_argument("--count", type=int, default=2, help="examples to write (default: 2)")
    examples.add_argument("--out", required=True, help="output directory")
    examples.set_defaults(run=run_export_examples)


def _add_skip_invalid(parser, help_text):
    parser.add_argument(
        "--skip-invalid", action="store_true", help=f"{help_text} (data.skip_invalid)"
    )


def _skip_invalid_override(args):
    return ["data.skip_invalid=true"] if args.skip_invalid else []


def run_generate(args):
    from mmlm.config import write_config
    from mmlm.experiments.data import load_data

    config, workdir = common.resolve(args, _skip_invalid_override(args))
    print(f"config written to {write_config(config, workdir)}")
    load_data(config, workdir)
    return 0


def run_inspect(args):
    from mmlm.data.inspect import format_report, inspect_data

    config, _ = common.resolve(args, _skip_invalid_override(args))
    report = inspect_data(config.data, num_examples=args.examples)
    print(format_report(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
    return 0


def run_export_examples(args):
    from mmlm.data.example_files import write_example_files
    from mmlm.experiments.data import ExperimentData

    config, _ = common.resolve(args)
    dataset = ExperimentData(config).dataset(args.split, masks=False)
    names = write_example_files(dataset, args.out, args.count, config.data.audio.sample_rate)
    print(f"wrote {len(names)} {args.split} examples (.png, .wav, .txt) to {args.out}")
    return 0
