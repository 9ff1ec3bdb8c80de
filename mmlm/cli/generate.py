"""`mmlm generate`."""

from mmlm.cli import common
from mmlm.config.sections import DecodingStrategy

STRATEGIES = [s.value for s in DecodingStrategy]


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "generate",
        help="generate text from a trained run, conditioned on text, an image and/or audio, or "
        "continue a prompt",
        description=(
            "Runs the fusion once on the given inputs, then the key/value-cached decoder token "
            "by token. Sampling options default to the config's generation section."
        ),
    )
    common.add_trained_run_arguments(parser)
    parser.add_argument("--text", default=None, help="conditioning text (text encoder input)")
    parser.add_argument("--image", default=None, help="an image file to condition on")
    parser.add_argument("--audio", default=None, help="a WAV/FLAC file to condition on")
    parser.add_argument("--prompt", default=None, help="the beginning of the generated text")
    parser.add_argument("--strategy", choices=STRATEGIES, default=None)
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--top-p", type=float, default=None)
    parser.add_argument("--num-beams", type=int, default=None)
    parser.add_argument("--length-penalty", type=float, default=None)
    parser.add_argument("--max-length", type=int, default=None, help="token buffer length")
    parser.add_argument("--seed", type=int, default=None, help="sampling seed")
    parser.set_defaults(run=run_generate)


# Command-line flags that override `generation.*` config values.
_FLAGS = (
    "strategy",
    "temperature",
    "top_k",
    "top_p",
    "num_beams",
    "length_penalty",
    "max_length",
    "seed",
)


def run_generate(args):
    from mmlm.experiments.generate import generate

    overrides = [
        f"generation.{flag}={getattr(args, flag)}"
        for flag in _FLAGS
        if getattr(args, flag) is not None
    ]
    config, workdir = common.resolve_trained_run(args, overrides)
    if not (args.text or args.image or args.audio or args.prompt):
        raise SystemExit(
            "mmlm generate: give at least one of --text, --image, --audio, or a --prompt to "
            "continue (a text-only language model)"
        )
    result = generate(
        config, workdir, text=args.text, image=args.image, audio=args.audio, prompt=args.prompt
    )
    print(result.text)
    if result.score is not None:
        print(f"(beam score {result.score:.4f})")
    return 0
