"""`mmlm pseudo-label`: self-training labels from a fine-tuned classifier."""

from mmlm.cli import common


def add_parser(subparsers):
    pseudo = subparsers.add_parser(
        "pseudo-label",
        help="label the unlabelled training examples a fine-tuned classifier is sure of",
        description=(
            "Runs the classifier fine-tuned in WORKDIR (a config with task.num_labelled) over "
            "the training examples outside its labelled subset and writes those predicted with "
            "softmax probability >= --threshold to --out; fine-tune again with "
            "--set task.pseudo_labels=OUT to train on them."
        ),
    )
    common.add_trained_run_arguments(pseudo)
    pseudo.add_argument("--out", required=True, help="pseudo-label JSON file to write")
    pseudo.add_argument(
        "--threshold", type=float, default=0.9, help="smallest kept confidence (default 0.9)"
    )
    pseudo.add_argument(
        "--per-class",
        type=int,
        default=0,
        help="keep at most this many of each predicted class, the most confident (0 = no cap)",
    )
    pseudo.set_defaults(run=run_pseudo_label)


def run_pseudo_label(args):
    from mmlm.experiments.pseudo_label import pseudo_label

    config, workdir = common.resolve_trained_run(args)
    pseudo_label(config, workdir, args.out, threshold=args.threshold, per_class=args.per_class)
    return 0
