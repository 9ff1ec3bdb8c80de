"""Draws a `Scene` as an RGB image with PIL."""

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mmlm.data.sources.scenes import vocabulary

_MIN_IMAGE_SIZE = 16


@functools.lru_cache(maxsize=64)
def _digit_font(font_size):
    try:
        return ImageFont.truetype(vocabulary.DIGIT_FONT, font_size)
    except OSError as error:
        raise RuntimeError(
            f"Font {vocabulary.DIGIT_FONT} not found: install it with "
            "`apt-get install fonts-dejavu-core`."
        ) from error


def _quadrant_origin(position, quadrant_size):
    row, col = vocabulary.POSITIONS.index(position) // 2, vocabulary.POSITIONS.index(position) % 2
    return col * quadrant_size, row * quadrant_size


def _jittered_center(rng, position, quadrant_size, width, height):
    """A centre that keeps a (width, height) box inside the quadrant with a 1-pixel margin."""
    left, top = _quadrant_origin(position, quadrant_size)
    max_dx = max(0.0, (quadrant_size - width) / 2 - 1)
    max_dy = max(0.0, (quadrant_size - height) / 2 - 1)
    cx = left + quadrant_size / 2 + rng.uniform(-max_dx, max_dx)
    cy = top + quadrant_size / 2 + rng.uniform(-max_dy, max_dy)
    return cx, cy


def _draw_object(draw, obj, rng, quadrant_size):
    fill = vocabulary.COLORS[obj.color]
    low, high = vocabulary.V1_SIZE_RANGE if obj.size is None else vocabulary.SIZES[obj.size]
    size = quadrant_size * rng.uniform(low, high)
    if obj.shape == "digit":
        font = _digit_font(max(8, int(round(size * 1.25))))
        text = str(obj.digit)
        x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
        cx, cy = _jittered_center(rng, obj.position, quadrant_size, x1 - x0, y1 - y0)
        # Place the ink box (not the text origin) at the jittered centre.
        draw.text((cx - (x0 + x1) / 2, cy - (y0 + y1) / 2), text, fill=fill, font=font)
        return
    if obj.shape == "circle":
        width = height = size
    elif obj.shape == "rectangle":
        # Clearly wider than tall, so the caption's "rectangle" is true (never a square).
        width, height = size, size * rng.uniform(0.45, 0.65)
    else:  # triangle: equilateral, pointing up.
        width, height = size, size * np.sqrt(3) / 2
    cx, cy = _jittered_center(rng, obj.position, quadrant_size, width, height)
    box = (cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)
    if obj.shape == "circle":
        draw.ellipse(box, fill=fill)
    elif obj.shape == "rectangle":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([(cx, box[1]), (box[2], box[3]), (box[0], box[3])], fill=fill)


def render(scene, rng, image_size=64):
    """Draws `scene` on a square canvas of its background colour (white in version 1).

    Each object lies inside its quadrant, with random size and position jitter drawn from `rng`
    (in object order, so the image is a pure function of the scene and the RNG state).

    Args:
        scene: The `Scene` to draw.
        rng: A `numpy.random.Generator`.
        image_size: Side of the square image in pixels (at least 16).

    Returns:
        uint8 array of shape (image_size, image_size, 3).
    """
    if image_size < _MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be at least {_MIN_IMAGE_SIZE}, got {image_size}.")
    background = (
        vocabulary.V1_BACKGROUND
        if scene.background is None
        else vocabulary.BACKGROUNDS[scene.background]
    )
    image = Image.new("RGB", (image_size, image_size), background)
    draw = ImageDraw.Draw(image)
    for obj in scene.objects:
        _draw_object(draw, obj, rng, image_size // 2)
    return np.asarray(image, dtype=np.uint8)
