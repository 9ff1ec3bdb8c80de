"""`mmlm ensemble`: train bagged members, evaluate them against the ensemble, export it."""

from mmlm.cli import common


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "ensemble",
        help="train an ensemble of bagged members, evaluate it, export it as one SavedModel",
        description=(
            "Trains --members runs of the config in WORKDIR/members/K (member K: seed + K and, "
            "unless --no-bagging, the bootstrap resample K of the training split; rerunning "
            "resumes them), evaluates each member and the ensemble on the test split (retrieval "
            "for pretraining configs; accuracy and macro-F1 of mean logits and of a stacker "
            "fitted on validation for classification configs) and with --export writes one "
            "SavedModel."
        ),
    )
    common.add_config_arguments(
        parser, init_from="pretraining run the classification members start from"
    )
    parser.add_argument("--members", type=int, default=3, help="number of members (>= 2)")
    parser.add_argument(
        "--no-bagging",
        dest="bagging",
        action="store_false",
        help="members differ by seed only (every one reads the whole training split)",
    )
    parser.add_argument("--json", default=None, help="metrics file (default: WORKDIR/...json)")
    parser.add_argument("--export", default=None, metavar="DIR", help="write the SavedModel")
    parser.set_defaults(run=run_ensemble)


def run_ensemble(args):
    from mmlm.experiments import ensemble

    config, workdir = common.resolve(args)
    ensemble.train_ensemble(config, workdir, args.members, args.init_from, args.bagging)
    ensemble.evaluate_ensemble(config, workdir, args.members, json_path=args.json)
    if args.export:
        ensemble.export_ensemble_model(config, workdir, args.members, args.export)
    return 0
