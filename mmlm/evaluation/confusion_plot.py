"""A confusion matrix as a PNG (matplotlib, no display needed)."""

import os

import numpy as np


def plot_confusion_matrix(matrix, names, path):
    """Writes `matrix` (row = true class, column = predicted) with its counts to `path`.

    Args:
        matrix: (C, C) counts.
        names: the C class names (None: the class indices).
        path: the PNG file to write (its folder is created).
    Returns:
        `path`.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    size = max(6.0, 0.35 * len(matrix))  # keep tick labels of many classes readable
    figure, axes = pyplot.subplots(figsize=(size, size * 5 / 6))
    image = axes.imshow(np.array(matrix), cmap="Blues")
    ticks = range(len(matrix))
    axes.set_xticks(ticks, names or list(ticks), rotation=45, ha="right")
    axes.set_yticks(ticks, names or list(ticks))
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axes.text(j, i, str(count), ha="center", va="center", fontsize=7)
    figure.colorbar(image)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path
