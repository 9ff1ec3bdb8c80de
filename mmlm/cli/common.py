"""Arguments and helpers shared by subcommands."""

import os


def add_config_arguments(parser, workdir=True, run_config_default=False, init_from=None):
    """--config, --set and (with `workdir`) --workdir. With `run_config_default`, --config may
    be left out: the trained run's WORKDIR/config.yaml is used. With `init_from` (its help
    text), also --init-from: the pretraining run a fine-tuning starts from (default: none)."""
    parser.add_argument(
        "--config",
        required=not run_config_default,
        default=None,
        metavar="FILE[:smoke]",
        help="experiment file (configs/*.py, optionally ':smoke') or a config.yaml of a run"
        + (" (default: WORKDIR/config.yaml)" if run_config_default else ""),
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, type-checked (repeatable), e.g. data.global_batch_size=8",
    )
    if workdir:
        parser.add_argument(
            "--workdir",
            default=None,
            help="run directory for the resolved config and reports (default: runs/<name>)",
        )
    if init_from:
        parser.add_argument("--init-from", default=None, help=init_from)


def resolve(args, extra_overrides=()):
    """Loads the config of `args` and returns (config, workdir)."""
    from mmlm.config import ConfigError, load_config

    if args.config is None:
        if not getattr(args, "workdir", None):
            raise ConfigError("give --config, or --workdir of a trained run (its config.yaml)")
        args.config = os.path.join(args.workdir, "config.yaml")
    config = load_config(args.config, list(args.overrides) + list(extra_overrides))
    workdir = getattr(args, "workdir", None) or os.path.join("runs", config.name)
    return config, workdir


def add_trained_run_arguments(parser):
    """--workdir (a trained run), --config (default: the run's config.yaml) and --set."""
    parser.add_argument("--workdir", required=True, help="the trained run directory")
    parser.add_argument(
        "--config", default=None, help="experiment config (default: WORKDIR/config.yaml)"
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V")


def resolve_trained_run(args, extra_overrides=()):
    """(config, workdir) of `add_trained_run_arguments`' arguments."""
    args.config = args.config or os.path.join(args.workdir, "config.yaml")
    return resolve(args, extra_overrides)
