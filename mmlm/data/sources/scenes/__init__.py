"""Generated "scenes": aligned captions (English, Spanish), images and speech.

Pure Python + NumPy + PIL + subprocess (espeak-ng, apertium): no TensorFlow here, so the
generator stays fast to test; the TFDS builder wraps `generate_examples`.
"""

from mmlm.data.sources.scenes.generator import (
    SPEED_RANGE,
    SPLITS,
    describe,
    generate_examples,
    language_suffix,
)
from mmlm.data.sources.scenes.render import render
from mmlm.data.sources.scenes.scene import Scene, SceneObject, caption, sample_scene
from mmlm.data.sources.scenes.speech import synthesize, voice_name
from mmlm.data.sources.scenes.translate import translate_en_es
from mmlm.data.sources.scenes.unique import caption_split
from mmlm.data.sources.scenes.vocabulary import (
    ALL_COMBOS,
    BACKGROUNDS,
    COLORS,
    DEFAULT_HELDOUT,
    DIGITS,
    POSITIONS,
    SHAPES,
    SIZES,
    VERSIONS,
    check_version,
)
