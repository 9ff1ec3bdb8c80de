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

    _add_evaluate_parser(subparsers)

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


def _add_evaluate_parser(subparsers):
    evaluate = subparsers.add_parser(
        "evaluate",
        help="retrieval R@K, zero-shot classification and caption perplexity of a trained run",
        description=(
            "Evaluates the backbone trained in WORKDIR on a split and prints a table: retrieval "
            "R@K in every direction the data has (with shuffled-pair and chance controls, and "
            "duplicate-aware R@K when captions repeat), zero-shot classification from the "
            "label column (with --prompt or --class-names) and caption perplexity. See "
            "docs/evaluation.md."
        ),
    )
    common.add_config_arguments(evaluate, run_config_default=True)
    evaluate.add_argument("--split", default="test", help="split to evaluate (default: test)")
    evaluate.add_argument("--json", default=None, help="also write the metrics as JSON here")
    evaluate.add_argument(
        "--prompt",
        dest="prompts",
        action="append",
        default=[],
        metavar="TEMPLATE",
        help="zero-shot prompt template with one {} for the class name, e.g. 'a picture of {}' "
        "(repeatable: the templates are ensembled); sets evaluation.prompts",
    )
    evaluate.add_argument(
        "--class-names",
        default=None,
        metavar="A,B,C|@FILE",
        help="zero-shot classes, comma-separated or @FILE with one per line (default: the "
        "split's distinct labels); sets evaluation.class_names",
    )
    evaluate.set_defaults(run=run_evaluate)


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
    config = _with_zero_shot_flags(config, args.prompts, args.class_names)
    evaluate(config, workdir, split=args.split, json_path=args.json)
    return 0


def _with_zero_shot_flags(config, prompts, class_names):
    """`config` with --prompt and --class-names in its evaluation section (given as Python
    values, not `--set` strings: a prompt or class name may contain a comma)."""
    import dataclasses

    changes = {}
    if prompts:
        changes["prompts"] = tuple(prompts)
    if class_names is not None:
        changes["class_names"] = _parse_class_names(class_names)
    if not changes:
        return config
    evaluation = dataclasses.replace(config.evaluation, **changes)
    return dataclasses.replace(config, evaluation=evaluation)


def _parse_class_names(text):
    """"a,b,c" → ("a", "b", "c"); "@file.txt" → its non-empty lines."""
    from mmlm.config import ConfigError

    if text.startswith("@"):
        with open(text[1:], encoding="utf-8") as f:
            names = [line.strip() for line in f]
    else:
        names = [name.strip() for name in text.split(",")]
    names = tuple(name for name in names if name)
    if not names:
        raise ConfigError(f"--class-names {text!r}: no class names")
    return names


def run_pseudo_label(args):
    from mmlm.experiments.pseudo_label import pseudo_label

    config, workdir = common.resolve_trained_run(args)
    pseudo_label(config, workdir, args.out, threshold=args.threshold, per_class=args.per_class)
    return 0
