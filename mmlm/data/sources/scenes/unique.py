"""Version-2 scenes: a size per object, a background per scene, and no repeated caption.

Captions are unique within each split, and no two splits share one, by construction:

- a caption without a held-out pair belongs to one split only, chosen by a hash of its text
  (`caption_split`: 80 % train, 10 % validation, 10 % test); a caption with a held-out pair
  belongs to test (train and validation never draw a held-out pair);
- an example draws its number of objects first, then scenes from its own RNG until one's
  caption belongs to its split and is not used yet (`UniqueCaptions`), so each split keeps the
  drawn mix of one- and two-object scenes. After `MAX_DRAWS` draws for one example generation
  stops with an error naming the split: its share of the caption space is used up.

Objects are listed in reading order of their quadrants, so one layout has one caption.
"""

import dataclasses
import hashlib

import numpy as np

from mmlm.data.sources.scenes import vocabulary
from mmlm.data.sources.scenes.scene import Scene, caption, sample_object

# Share of the captions (without a held-out pair) that belong to each split.
SPLIT_SHARES = (("train", 0.8), ("validation", 0.1), ("test", 0.1))
# Share of scenes with one object (the rest have two). One-object captions are the scarce ones
# (2,184 without a held-out pair, a tenth of them test's); a third keeps the demo's splits far
# from using them up.
ONE_OBJECT_SHARE = 1 / 3
MAX_DRAWS = 20_000


def caption_split(text):
    """The split a caption without a held-out pair belongs to, from the SHA-256 of its text."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2.0**64
    cumulative = 0.0
    for split, share in SPLIT_SHARES:
        cumulative += share
        if fraction < cumulative:
            return split
    return SPLIT_SHARES[-1][0]


def sample_sized_scene(rng, combos, num_objects, *, required_combos=()):
    """A version-2 scene of `num_objects` objects in distinct quadrants (reading order), each
    with a size, on a background.

    Args:
        rng: A `numpy.random.Generator`; the only source of randomness.
        combos: (colour, shape) pairs the objects are drawn from.
        num_objects: 1 or 2.
        required_combos: If non-empty, one object (at a random place) is drawn from these.
    """
    quadrants = np.sort(rng.choice(len(vocabulary.POSITIONS), size=num_objects, replace=False))
    required_slot = int(rng.integers(num_objects)) if required_combos else -1
    objects = []
    for slot, quadrant in enumerate(quadrants):
        pairs = required_combos if slot == required_slot else combos
        obj = sample_object(rng, pairs, vocabulary.POSITIONS[quadrant])
        size = tuple(vocabulary.SIZES)[int(rng.integers(len(vocabulary.SIZES)))]
        objects.append(dataclasses.replace(obj, size=size))
    background = tuple(vocabulary.BACKGROUNDS)[int(rng.integers(len(vocabulary.BACKGROUNDS)))]
    return Scene(tuple(objects), background=background)


class UniqueCaptions:
    """The captions one split has used; draws every new example's scene with a new caption.

    Args:
        split: "train", "validation" or "test".
    """

    def __init__(self, split):
        self.split = split
        self.used = set()

    def draw(self, rng, combos, *, required_combos=()):
        """A scene whose caption is new and belongs to this split (see the module docstring).

        Raises:
            RuntimeError: after `MAX_DRAWS` draws without one.
        """
        num_objects = 1 if rng.random() < ONE_OBJECT_SHARE else 2
        for _ in range(MAX_DRAWS):
            scene = sample_sized_scene(rng, combos, num_objects, required_combos=required_combos)
            text = caption(scene)
            home = "test" if required_combos else caption_split(text)
            if home == self.split and text not in self.used:
                self.used.add(text)
                return scene
        kind = "with a held-out pair " if required_combos else ""
        raise RuntimeError(
            f"scenes version 2, split {self.split!r}: no new {num_objects}-object caption "
            f"{kind}in {MAX_DRAWS} draws ({len(self.used)} captions used so far): this split's "
            "share of the caption space is used up; generate fewer examples."
        )
