"""`mmlm explain`: one example's cross-modal attention as a PNG overlay."""

from mmlm.cli import common


def add_parser(subparsers):
    explain = subparsers.add_parser(
        "explain",
        help="a PNG of where one example's text attends in its image and audio",
        description=(
            "Draws the fusion's text-to-image attention over the example's image and its "
            "text-to-audio attention as a strip over the spectrogram: one row for the mean over "
            "the text's tokens, then one per token. The maps are read from the trained model "
            "without changing it (docs/tasks.md)."
        ),
    )
    common.add_trained_run_arguments(explain)
    explain.add_argument("--split", default="test", help="split of the example (default: test)")
    explain.add_argument("--index", type=int, default=0, help="the example's position (default 0)")
    explain.add_argument("--layer", type=int, default=None, help="fusion layer (default: last)")
    explain.add_argument("--head", type=int, default=None, help="one head (default: their mean)")
    explain.add_argument("--max-tokens", type=int, default=8, help="token rows (default 8)")
    explain.add_argument("--out", required=True, help="the PNG to write")
    explain.set_defaults(run=run_explain)


def run_explain(args):
    from mmlm.experiments.explain import explain

    config, workdir = common.resolve_trained_run(args)
    explain(
        config,
        workdir,
        args.out,
        split=args.split,
        index=args.index,
        layer=args.layer,
        head=args.head,
        max_tokens=args.max_tokens,
    )
    return 0
