"""Scene structure, sampling and English captions."""

import dataclasses

from mmlm.data.sources.scenes import vocabulary


@dataclasses.dataclass(frozen=True)
class SceneObject:
    """One object of a scene.

    Attributes:
        shape: One of `vocabulary.SHAPES`.
        color: One of `vocabulary.COLOR_NAMES`.
        position: One of `vocabulary.POSITIONS` (the quadrant the object sits in).
        digit: The digit drawn (0-9) when `shape == "digit"`, else None.
        size: Version 2: one of `vocabulary.SIZES` ("small", "large"), said in the caption;
            None in version 1 (size unsaid, drawn from `vocabulary.V1_SIZE_RANGE`).
    """

    shape: str
    color: str
    position: str
    digit: int | None = None
    size: str | None = None

    def __post_init__(self):
        if self.shape not in vocabulary.SHAPES:
            raise ValueError(f"Unknown shape {self.shape!r}; expected one of {vocabulary.SHAPES}.")
        if self.color not in vocabulary.COLORS:
            raise ValueError(
                f"Unknown color {self.color!r}; expected one of {vocabulary.COLOR_NAMES}."
            )
        if self.position not in vocabulary.POSITIONS:
            raise ValueError(
                f"Unknown position {self.position!r}; expected one of {vocabulary.POSITIONS}."
            )
        if (self.shape == "digit") != (self.digit is not None):
            raise ValueError("`digit` must be set exactly when shape == 'digit'.")
        if self.digit is not None and not 0 <= self.digit <= 9:
            raise ValueError(f"`digit` must be in 0..9, got {self.digit}.")
        if self.size is not None and self.size not in vocabulary.SIZES:
            raise ValueError(
                f"Unknown size {self.size!r}; expected one of {tuple(vocabulary.SIZES)} or None."
            )

    @property
    def combo(self):
        """The (colour, shape) pair, the unit of held-out combinations."""
        return (self.color, self.shape)

    @property
    def digit_name(self):
        """The digit's English name ("seven"), or "none" for other shapes."""
        return "none" if self.digit is None else vocabulary.DIGITS[self.digit]


@dataclasses.dataclass(frozen=True)
class Scene:
    """A scene: one or more objects, each in its own quadrant.

    Attributes:
        objects: The objects, in caption order.
        background: Version 2: one of `vocabulary.BACKGROUNDS`, set exactly when every object
            has a size; None in version 1 (white, unsaid).
    """

    objects: tuple[SceneObject, ...]
    background: str | None = None

    def __post_init__(self):
        positions = [obj.position for obj in self.objects]
        if not positions or len(set(positions)) != len(positions):
            raise ValueError(f"A scene needs objects in distinct quadrants, got {positions}.")
        if self.background is not None and self.background not in vocabulary.BACKGROUNDS:
            raise ValueError(
                f"Unknown background {self.background!r}; expected one of "
                f"{tuple(vocabulary.BACKGROUNDS)} or None."
            )
        sized = {obj.size is not None for obj in self.objects}
        if sized != {self.background is not None}:
            raise ValueError(
                "A version-2 scene sets a background and every object's size; a version-1 "
                f"scene none of them (background {self.background!r}, sizes "
                f"{[obj.size for obj in self.objects]})."
            )

    @property
    def version(self):
        """The generator version whose caption wording this scene uses (1 or 2)."""
        return 1 if self.background is None else 2


def sample_object(rng, combos, position):
    """One object of a (colour, shape) pair drawn from `combos` at `position` (a digit draws its
    value too); the RNG draws of version 1."""
    color, shape = combos[rng.integers(len(combos))]
    digit = int(rng.integers(10)) if shape == "digit" else None
    return SceneObject(shape=shape, color=color, position=position, digit=digit)


def sample_scene(rng, combos, *, required_combos=(), max_objects=2):
    """Samples a scene of 1..`max_objects` objects in distinct quadrants.

    Args:
        rng: A `numpy.random.Generator`; the only source of randomness.
        combos: Sequence of (colour, shape) pairs the objects are drawn from.
        required_combos: If non-empty, one object (at a random place in the caption order) is
            drawn from these pairs instead, so the scene is guaranteed to contain one of them.
        max_objects: Largest number of objects (at most the number of quadrants).

    Returns:
        A `Scene`.
    """
    if not 1 <= max_objects <= len(vocabulary.POSITIONS):
        raise ValueError(f"max_objects must be in 1..{len(vocabulary.POSITIONS)}.")
    num_objects = int(rng.integers(1, max_objects + 1))
    quadrants = rng.choice(len(vocabulary.POSITIONS), size=num_objects, replace=False)
    required_slot = int(rng.integers(num_objects)) if required_combos else -1
    objects = tuple(
        sample_object(
            rng,
            required_combos if slot == required_slot else combos,
            vocabulary.POSITIONS[quadrant],
        )
        for slot, quadrant in enumerate(quadrants)
    )
    return Scene(objects)


def _with_article(phrase):
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def describe_object(obj):
    """English noun phrase for one object: "an orange circle in the top left corner" (version
    2: "a small orange circle in the top left corner")."""
    noun = f"digit {obj.digit_name}" if obj.shape == "digit" else obj.shape
    adjectives = obj.color if obj.size is None else f"{obj.size} {obj.color}"
    return f"{_with_article(f'{adjectives} {noun}')} in the {obj.position} corner"


def caption(scene):
    """Lowercase English caption without a final period, objects joined by "and"; version 2
    ends with the background: "... corner on grey"."""
    text = " and ".join(describe_object(obj) for obj in scene.objects)
    return text if scene.background is None else f"{text} on {scene.background}"
