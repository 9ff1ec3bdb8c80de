"""Text-token attention over image patches and audio frames, drawn over the example (PNG)."""

import os

import numpy as np

# Inches per panel at `DPI`: a PNG of C key modalities and R rows is (C·W·DPI) × (R·H·DPI).
PANEL_WIDTH, PANEL_HEIGHT, DPI = 3.2, 2.4, 100


def figure_size(num_columns, num_rows):
    """(width, height) in pixels of `plot_attention_overlay`'s PNG."""
    return round(num_columns * PANEL_WIDTH * DPI), round(num_rows * PANEL_HEIGHT * DPI)


def patch_heat(weights, grid, shape):
    """Per-patch weights (rows·cols,) row-major → a (height, width) map of blocks.

    Args:
        weights: the attention of one query on the patches.
        grid: (rows, cols) of the patch grid.
        shape: (height, width) to cover; patches are `height // rows` × `width // cols`
            pixels and any remainder (cropped by the patch embedding) stays 0.
    """
    rows, cols = grid
    blocks = np.asarray(weights, np.float32).reshape(rows, cols)
    cell = (shape[0] // rows, shape[1] // cols)
    heat = np.zeros(shape, np.float32)
    heat[: rows * cell[0], : cols * cell[1]] = np.kron(blocks, np.ones(cell, np.float32))
    return heat


def plot_attention_overlay(path, rows, image=None, spectrogram=None, title=""):
    """Writes one example's text-to-image and text-to-audio attention as a PNG.

    Args:
        path: the PNG file to write (its folder is created).
        rows: [(label, {"image": (h, w) heat, "audio": (T,) heat per frame})]: one figure row
            per label (a token, or the mean over tokens); a modality left out of a row's dict
            is drawn without heat.
        image: (h, w, 3) float in [0, 1], the image the heat covers (None: no image column).
        spectrogram: (T, M) log-mel of the audio (None: no audio column).
        title: the figure's title.
    Returns:
        `path`; the PNG is `figure_size(columns, len(rows))` pixels.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    columns = [m for m, x in (("image", image), ("audio", spectrogram)) if x is not None]
    if not columns or not rows:
        raise ValueError("plot_attention_overlay needs an image or a spectrogram, and a row")
    width, height = figure_size(len(columns), len(rows))
    figure, axes = pyplot.subplots(
        len(rows), len(columns), figsize=(width / DPI, height / DPI), dpi=DPI, squeeze=False
    )
    for (label, heats), row_axes in zip(rows, axes):
        for modality, axis in zip(columns, row_axes):
            heat = heats.get(modality)
            if modality == "image":
                axis.imshow(np.clip(image, 0.0, 1.0))
                if heat is not None:
                    axis.imshow(heat, cmap="inferno", alpha=0.6, vmin=0.0, vmax=heat.max() or 1)
            else:
                axis.imshow(spectrogram.T, origin="lower", aspect="auto", cmap="gray")
                if heat is not None:  # a strip of heat per frame, over the whole height
                    strip = np.tile(heat[None, :], (spectrogram.shape[1], 1))
                    axis.imshow(
                        strip, origin="lower", aspect="auto", cmap="inferno", alpha=0.5,
                        vmin=0.0, vmax=heat.max() or 1,
                    )  # fmt: skip
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(f"{label} → {modality}", fontsize=7)
    if title:
        figure.suptitle(title, fontsize=8)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=DPI)
    pyplot.close(figure)
    return path
