"""The `mmlm` command line: parses arguments and calls one library function per subcommand."""

import argparse
import sys

from mmlm.cli import compress as compress_command
from mmlm.cli import data as data_command
from mmlm.cli import distill as distill_command
from mmlm.cli import ensemble as ensemble_command
from mmlm.cli import evaluate as evaluate_command
from mmlm.cli import explain as explain_command
from mmlm.cli import export as export_commands
from mmlm.cli import generate as generate_command
from mmlm.cli import pseudo_label as pseudo_label_command
from mmlm.cli import serve as serve_command
from mmlm.cli import train as train_commands
from mmlm.cli import tune as tune_command


def build_parser():
    parser = argparse.ArgumentParser(
        prog="mmlm",
        description="mmlm: multimodal (text, image, audio) language models on tf_keras.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    data_command.add_parser(subparsers)
    train_commands.add_parsers(subparsers)
    tune_command.add_parser(subparsers)
    ensemble_command.add_parser(subparsers)
    evaluate_command.add_parser(subparsers)
    pseudo_label_command.add_parser(subparsers)
    export_commands.add_parsers(subparsers)
    generate_command.add_parser(subparsers)
    explain_command.add_parser(subparsers)
    compress_command.add_parser(subparsers)
    distill_command.add_parser(subparsers)
    serve_command.add_parser(subparsers)
    return parser


def main(argv=None):
    """Entry point of the `mmlm` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    import tensorflow_datasets as tfds

    tfds.disable_progress_bar()
    from mmlm.config import ConfigError  # imported late: `--help` stays fast
    from mmlm.data.errors import DataValidationError, MediaFileError
    from mmlm.preset_files import PresetError
    from mmlm.training.callbacks import NonFiniteLossError

    try:
        return args.run(args) or 0
    except NonFiniteLossError as error:
        print(f"mmlm {args.command}: training stopped: {error}", file=sys.stderr)
        return 3
    except (
        ConfigError,
        DataValidationError,
        MediaFileError,
        PresetError,
        FileNotFoundError,
        FileExistsError,
    ) as error:
        print(f"mmlm {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
