"""`mmlm pretrain`, `mmlm finetune`, `mmlm evaluate` and `mmlm pseudo-label`."""

from mmlm.cli import common


def add_parsers(subparsers):
    pretrain = subparsers.add_parser(
        "pretrain",
        help="self-supervised pretraining (resumes if WORKDIR has a checkpoint)",
        description=(
            "Trains the multimodal model with the config's objectives and strategy. Checkpoints "
            "go to WORKDIR/backup every trainer.checkpoint_every steps; rerunning the same "
            "command resumes from the last one. TensorBoard logs: WORKDIR/tensorboard."
        ),
    )
    common.add_config_arguments(pretrain)
    pretrain.set_defaults(run=run_pretrain)

    finetune = subparsers.add_parser(
        "finetune",
        help="fine-tune a pretrained backbone on a task (resumes if WORKDIR has a checkpoint)",
        description=(
            "Trains the config's task (captioning, speech recognition, translation, ...) with "
            "the one trainer, starting from the backbone pretrained in --init-from (without "
            "it, from random weights)."
        ),
    )
    common.add_config_arguments(finetune)
    finetune.add_argument(
        "--init-from",
        default=None,
        help="the pretraining run directory (its backbone); omit to train from scratch",
    )
    finetune.set_defaults(run=run_finetune)

    evaluate = subparsers.add_parser(
        "evaluate",
        help="retrieval R@K, zero-shot attributes and caption perplexity of a trained run",
        description="Evaluates the backbone trained in WORKDIR on a split and prints a table.",
    )
    common.add_config_arguments(evaluate)
    evaluate.add_argument("--split", default="test", help="split to evaluate (default: test)")
    evaluate.add_argument("--json", default=None, help="also write the metrics as JSON here")
    evaluate.set_defaults(run=run_evaluate)

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


def run_pretrain(args):
    from mmlm.experiments.pretrain import pretrain

    config, workdir = common.resolve(args)
    pretrain(config, workdir)
    return 0


def run_finetune(args):
    from mmlm.experiments.downstream import finetune

    config, workdir = common.resolve(args)
    finetune(config, workdir, args.init_from)
    return 0


def run_evaluate(args):
    from mmlm.experiments.evaluate import evaluate

    config, workdir = common.resolve(args)
    evaluate(config, workdir, split=args.split, json_path=args.json)
    return 0


def run_pseudo_label(args):
    from mmlm.experiments.pseudo_label import pseudo_label

    config, workdir = common.resolve_trained_run(args)
    pseudo_label(config, workdir, args.out, threshold=args.threshold, per_class=args.per_class)
    return 0
