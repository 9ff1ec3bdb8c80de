"""`mmlm distill`: train a student from a trained teacher run."""

import os

from mmlm.cli import common


def add_parser(subparsers):
    """Adds the `distill` subcommand to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "distill",
        help="train a student (config.model) from a trained teacher run (resumes if interrupted)",
        description=(
            "Trains the config's model as a student of the backbone saved in TEACHER_WORKDIR: "
            "its pretraining objectives plus embedding, in-batch similarity and decoder logit "
            "distillation (compression.distill_* weights and temperature). Steps: "
            "compression.distill_steps, or trainer.steps when 0. The student is saved to "
            "WORKDIR/model/backbone.keras, so `mmlm evaluate --workdir WORKDIR` evaluates it."
        ),
    )
    common.add_config_arguments(parser, workdir=False)
    parser.add_argument(
        "--workdir",
        default=None,
        help="the student's run directory (default: runs/<name>_distilled)",
    )
    parser.add_argument(
        "--teacher",
        default=None,
        metavar="TEACHER_WORKDIR",
        help="run directory of the trained teacher (default: compression.distill_teacher_workdir)",
    )
    parser.set_defaults(run=run_distill)


def run_distill(args):
    """Runs `mmlm distill` from parsed arguments; returns the exit status."""
    from mmlm.experiments.distill import distill

    config, _ = common.resolve(args)
    # Not runs/<name>: that is where the same config's model trains without a teacher.
    workdir = args.workdir or os.path.join("runs", f"{config.name}_distilled")
    distill(config, workdir, teacher_workdir=args.teacher)
    return 0
