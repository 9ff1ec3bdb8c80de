"""`mmlm tune`: hyperparameter search (grid, random, TPE) over the one trainer."""

from mmlm.cli import common


def add_parser(subparsers):
    tune = subparsers.add_parser(
        "tune",
        help="hyperparameter search over the config's tuning section (resumable)",
        description=(
            "Runs the trials of the config's tuning section (grid, random or TPE search over "
            "config keys), each a pretraining or fine-tuning run in WORKDIR/trials/NNNN, "
            "pruning bad trials at evaluations. The study is WORKDIR/study.db: rerunning the "
            "command continues it (a trial interrupted by a crash is rerun from its backup). "
            "HParams for TensorBoard: WORKDIR/tensorboard; the table: WORKDIR/trials.json."
        ),
    )
    common.add_config_arguments(
        tune,
        init_from="the pretraining run each trial of a task fine-tunes from (omit: from scratch)",
    )
    tune.set_defaults(run=run_tune)


def run_tune(args):
    from mmlm.experiments.tune import tune

    config, workdir = common.resolve(args)
    tune(config, workdir, args.init_from)
    return 0
