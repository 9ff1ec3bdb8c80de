"""Where a run directory keeps what it produced."""

import os

from mmlm.backend import keras


def backbone_path(workdir):
    return os.path.join(workdir, "model", "backbone.keras")


def save_backbone(backbone, workdir):
    path = backbone_path(workdir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    backbone.save(path)
    return path


def load_backbone(workdir):
    """The trained backbone of a run directory (fails clearly if the run did not finish)."""
    import mmlm.models  # noqa: F401  (registers the classes the file names)

    path = backbone_path(workdir)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"no trained model in {workdir}: {path} is missing; run `mmlm pretrain --workdir "
            f"{workdir} ...` to completion first"
        )
    return keras.models.load_model(path, compile=False)
