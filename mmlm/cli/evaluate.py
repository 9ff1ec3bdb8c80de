"""`mmlm evaluate`: a trained run's metrics on a split (docs/evaluation.md)."""

from mmlm.cli import common


def add_parser(subparsers):
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
    """ "a,b,c" → ("a", "b", "c"); "@file.txt" → its non-empty lines."""
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
