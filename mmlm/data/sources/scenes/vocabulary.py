"""The closed vocabulary of generated scenes: colours, shapes, digits and positions.

Every word here was checked to translate cleanly with `apertium -u eng-spa` ("square" was not:
it becomes "plaza", so the four-sided shape is a visibly wide "rectangle").
"""

# Name -> RGB fill. Chosen to be far apart so a pixel's colour identifies its object.
COLORS = {
    "red": (220, 30, 30),
    "green": (30, 150, 50),
    "blue": (30, 70, 220),
    "yellow": (240, 200, 0),
    "purple": (130, 40, 170),
    "orange": (255, 130, 0),
    "pink": (255, 120, 200),
    "brown": (125, 75, 30),
}
COLOR_NAMES = tuple(COLORS)

SHAPES = ("circle", "rectangle", "triangle", "digit")

# Index i names digit i; a "digit" object draws str(i) in DIGIT_FONT.
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGIT_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"

# Quadrants in reading order; captions say "in the top left corner".
POSITIONS = ("top left", "top right", "bottom left", "bottom right")

ALL_COMBOS = tuple((color, shape) for color in COLOR_NAMES for shape in SHAPES)

# (colour, shape) pairs that never appear in train/validation: each colour and each shape is
# still seen in training, only these pairings are new at test time.
DEFAULT_HELDOUT = (
    ("red", "triangle"),
    ("green", "circle"),
    ("blue", "rectangle"),
    ("yellow", "digit"),
)


def validate_combos(combos):
    """Returns `combos` as a tuple of (colour, shape) tuples; raises ValueError on unknown words."""
    combos = tuple((str(color), str(shape)) for color, shape in combos)
    for color, shape in combos:
        if color not in COLORS or shape not in SHAPES:
            raise ValueError(
                f"Unknown combination ({color!r}, {shape!r}): colours are {COLOR_NAMES}, "
                f"shapes are {SHAPES}."
            )
    return combos


# Generator versions: 1, the original scenes; 2 adds a size to every object and a background
# colour to every scene, so that no caption repeats within a split (generator.py).
VERSIONS = (1, 2)

# Version 2: an object's side as a share of its quadrant, "small" and "large" far apart so the
# word is visibly true. Version 1 draws every object from `V1_SIZE_RANGE`.
SIZES = {"small": (0.35, 0.5), "large": (0.7, 0.9)}
V1_SIZE_RANGE = (0.6, 0.85)

# Version 2: background name -> RGB, each far from every object colour. Version 1 is white.
BACKGROUNDS = {"white": (255, 255, 255), "grey": (128, 128, 128), "black": (0, 0, 0)}
V1_BACKGROUND = (255, 255, 255)


def check_version(version):
    """Returns `version` if it is a generator version; raises ValueError naming the valid ones."""
    if version not in VERSIONS:
        raise ValueError(f"Unknown scenes version {version!r}; expected one of {VERSIONS}.")
    return version
