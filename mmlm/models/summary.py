"""A small table of a backbone's parameters and FLOPs per tower (logged when training starts)."""

from mmlm.models.flops import (
    backbone_flops,
    head_parameter_counts,
    parameter_counts,
    pretraining_flops,
)

_GIGA = 1e9
_TITLE = (
    "model size per example (fwd: one backbone pass; train: every pass of a training step,"
    " forward + backward; multiply-add = 2 FLOPs)"
)


def format_model_summary(backbone, task=None, text_length=None, mask_selections=8):
    """Parameters, forward GFLOPs and (with a task) training GFLOPs per example, per tower.

    Args:
        backbone: a `MultimodalBackbone`.
        task: optional `PretrainingTask` of that backbone: adds its heads and the training
            FLOPs of one example (every pass of a step, forward + backward; see `flops.py`).
        text_length, mask_selections: as in `mmlm.models.flops.pretraining_passes`.
    Returns:
        A multi-line string: one row per component, then the total.

    Example:
    >>> print(format_model_summary(task.backbone, task, text_length=40))
    component             params  fwd GFLOPs  train GFLOPs
    text_encoder         816,320       0.070         0.420
    ...
    """
    params = parameter_counts(backbone)
    forward = backbone_flops(backbone, text_length)
    training = {}
    if task is not None:
        heads = head_parameter_counts(task)
        params.update(heads)
        params["total"] += sum(heads.values())
        training = pretraining_flops(task, text_length, mask_selections)
    names = [n for n in forward if n != "total"]
    names += [n for n in training if n not in names and n not in ("forward", "total")]
    header = f"{'component':<18}{'params':>13}{'fwd GFLOPs':>12}"
    if task is not None:
        header += f"{'train GFLOPs':>14}"
    lines = [_TITLE, header]
    for name in names + ["total"]:
        count = f"{params[name]:,}" if name in params else "-"
        fwd = f"{forward[name] / _GIGA:.3f}" if name in forward else "-"
        row = f"{name:<18}{count:>13}{fwd:>12}"
        if task is not None:
            row += f"{training.get(name, 0.0) / _GIGA:>14.3f}"
        lines.append(row)
    return "\n".join(lines)
