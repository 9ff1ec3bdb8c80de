"""`mmlm pretrain` and `mmlm finetune`: training runs."""

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
    common.add_config_arguments(
        finetune,
        init_from="the pretraining run directory (its backbone); omit to train from scratch",
    )
    finetune.set_defaults(run=run_finetune)


def run_pretrain(args):
    from mmlm.experiments.pretrain import pretrain

    config, workdir = common.resolve(args)
    pretrain(config, workdir)
    return 0


def run_finetune(args):
    from mmlm.experiments.finetune import finetune

    config, workdir = common.resolve(args)
    finetune(config, workdir, args.init_from)
    return 0
