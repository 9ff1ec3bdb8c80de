"""Where a run directory keeps what it produced."""

import os

from mmlm import atomic_files, preset_files
from mmlm.backend import keras


def model_dir(workdir):
    """A run's model directory: a preset (see `mmlm.preset_files`) once training finished."""
    return os.path.join(workdir, "model")


def backbone_path(workdir):
    return os.path.join(model_dir(workdir), preset_files.BACKBONE)


def save_backbone(backbone, workdir):
    """Saves `backbone` into the run's model directory (with the preset metadata)."""
    if hasattr(backbone, "save_to_preset"):
        backbone.save_to_preset(model_dir(workdir))
    else:
        os.makedirs(model_dir(workdir), exist_ok=True)
        backbone.save(backbone_path(workdir))
    return backbone_path(workdir)


def require_backbone(workdir, how_to_create=None):
    """The backbone file of a run directory; FileNotFoundError naming it if it is missing.

    Args:
        workdir: the run directory.
        how_to_create: what the message tells the user to run (default: `mmlm pretrain`).
    """
    path = backbone_path(workdir)
    if not os.path.isfile(path):
        how_to_create = how_to_create or f"run `mmlm pretrain --workdir {workdir} ...`"
        raise FileNotFoundError(
            f"no trained model in {workdir}: {path} is missing; {how_to_create} to completion first"
        )
    return path


def load_backbone(workdir):
    """The trained backbone of a run directory (fails clearly if the run did not finish)."""
    import mmlm.models  # noqa: F401  (registers the classes the file names)

    return keras.models.load_model(require_backbone(workdir), compile=False)


def write_json(metrics, json_path, log):
    """Writes `metrics` as JSON to `json_path` (if given) and says so."""
    if json_path:
        atomic_files.write_json(json_path, metrics, indent=2)
        log(f"metrics written to {json_path}")
