"""Deterministic generation of aligned (caption, Spanish caption, image, speech) examples."""

import numpy as np

from mmlm.data.sources.scenes import speech, unique, vocabulary
from mmlm.data.sources.scenes.render import render
from mmlm.data.sources.scenes.scene import caption, sample_scene
from mmlm.data.sources.scenes.translate import translate_en_es

SPLITS = ("train", "validation", "test")
# espeak-ng speaking rates in words per minute, inclusive.
SPEED_RANGE = (140, 190)
SPEECH_LANGUAGES = ("en", "es")


def language_suffix(language):
    """Suffix of a language's example keys: "" for English ("audio"), "_es" for Spanish."""
    return "" if language == "en" else f"_{language}"


def describe(heldout_combos=vocabulary.DEFAULT_HELDOUT, version=1):
    """The generator's vocabulary and splits as plain Python data, for dataset metadata."""
    heldout_combos = vocabulary.validate_combos(heldout_combos)
    description = {
        "colors": {name: list(rgb) for name, rgb in vocabulary.COLORS.items()},
        "shapes": list(vocabulary.SHAPES),
        "digits": list(vocabulary.DIGITS),
        "positions": list(vocabulary.POSITIONS),
        "heldout_combos": [list(combo) for combo in heldout_combos],
        "seen_combos": [list(c) for c in vocabulary.ALL_COMBOS if c not in heldout_combos],
        "splits_with_heldout": ["test"],
        "voice_variants": list(speech.VARIANTS),
        "speed_range_wpm": list(SPEED_RANGE),
    }
    if vocabulary.check_version(version) == 2:
        description.update(
            version=2,
            sizes={name: list(share) for name, share in vocabulary.SIZES.items()},
            backgrounds={name: list(rgb) for name, rgb in vocabulary.BACKGROUNDS.items()},
            one_object_share=unique.ONE_OBJECT_SHARE,
            caption_split_shares=dict(unique.SPLIT_SHARES),
        )
    return description


def _plan_example(rng, split, combos, heldout_fraction, image_size, captions):
    """Everything about one example that comes from its RNG (so: all but the subprocess output).

    `combos` is (seen, held-out) pairs; `captions` a `unique.UniqueCaptions` in version 2, None
    in version 1.
    """
    seen_combos, heldout_combos = combos
    # Drawn for every split so the RNG stream is laid out the same way everywhere.
    heldout_draw = rng.random()
    heldout = split == "test" and bool(heldout_combos) and heldout_draw < heldout_fraction
    required = heldout_combos if heldout else ()
    if captions is None:
        scene = sample_scene(rng, seen_combos, required_combos=required)
    else:
        scene = captions.draw(rng, seen_combos, required_combos=required)
    image = render(scene, rng, image_size=image_size)
    # One speaker (variant and rate) per example, speaking every language.
    variant = speech.VARIANTS[int(rng.integers(len(speech.VARIANTS)))]
    speed = int(rng.integers(SPEED_RANGE[0], SPEED_RANGE[1] + 1))
    plan = {
        "text": caption(scene),
        "image": image,
        "objects": {
            "shape": [obj.shape for obj in scene.objects],
            "color": [obj.color for obj in scene.objects],
            "position": [obj.position for obj in scene.objects],
            "digit": [obj.digit_name for obj in scene.objects],
        },
        "num_objects": len(scene.objects),
        "heldout": heldout,
        "variant": variant,
        "speed": speed,
    }
    if scene.version == 2:
        plan["objects"]["size"] = [obj.size for obj in scene.objects]
        plan["background"] = scene.background
    return plan


def _check_arguments(split, num_examples, heldout_fraction, speech_languages):
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; expected one of {SPLITS}.")
    if num_examples < 0:
        raise ValueError(f"num_examples must be >= 0, got {num_examples}.")
    if not 0.0 <= heldout_fraction <= 1.0:
        raise ValueError(f"heldout_fraction must be in [0, 1], got {heldout_fraction}.")
    unknown = [lang for lang in speech_languages if lang not in SPEECH_LANGUAGES]
    if unknown:
        raise ValueError(
            f"Unknown speech languages {unknown}; expected some of {SPEECH_LANGUAGES}."
        )


def generate_examples(
    split,
    num_examples,
    *,
    seed=0,
    image_size=64,
    sample_rate=16000,
    heldout_combos=vocabulary.DEFAULT_HELDOUT,
    heldout_fraction=0.5,
    speech_languages=SPEECH_LANGUAGES,
    max_workers=None,
    version=1,
):
    """Generates `num_examples` scene examples of one split.

    Example `i` draws all its randomness from `np.random.default_rng([seed, split_id, i])`, so
    the output is byte-identical across runs and independent of thread scheduling and of
    `num_examples` (the first k examples of a longer run are the same).

    Version 2 (`unique.py`) adds a size to every object and a background to every scene, and
    draws each example's scene until its caption is new in the split and belongs to it, so no
    caption repeats within a split or occurs in two splits; example `i` then depends on the
    captions of examples before it (still the same for every `num_examples`).

    Train and validation never contain a held-out (colour, shape) pair. In test, a share
    `heldout_fraction` of the examples contains exactly one held-out object (flagged
    `heldout=True`); the other test examples use only seen pairs.

    Args:
        split: "train", "validation" or "test".
        num_examples: Number of examples.
        seed: Integer seed of the whole split.
        image_size: Side of the square RGB image.
        sample_rate: Sample rate of the int16 speech, in Hz.
        heldout_combos: (colour, shape) pairs kept out of train/validation.
        heldout_fraction: Share of test examples that contain a held-out pair.
        speech_languages: Languages to speak: "en" -> keys "audio", "voice", "speed";
            "es" -> "audio_es", "voice_es", "speed_es".
        max_workers: Threads running espeak-ng; defaults to `os.cpu_count()`.
        version: generator version, 1 or 2 (see above).

    Returns:
        List of (key, example) with key f"{split}_{index:06d}" and example a dict with "text",
        "text_es", "image" (uint8, (S, S, 3)), per-language "audio*" (int16, (N,)), "voice*"
        and "speed*", "objects" (dict of string lists "shape", "color", "position", "digit"),
        "num_objects" and "heldout"; version 2 adds "objects"["size"] and "background".
    """
    speech_languages = tuple(speech_languages)
    _check_arguments(split, num_examples, heldout_fraction, speech_languages)
    vocabulary.check_version(version)
    heldout_combos = vocabulary.validate_combos(heldout_combos)
    seen_combos = tuple(c for c in vocabulary.ALL_COMBOS if c not in heldout_combos)
    if not seen_combos:
        raise ValueError("heldout_combos holds out every combination; nothing is left to train on.")
    split_id = SPLITS.index(split)
    captions = unique.UniqueCaptions(split) if version == 2 else None
    plans = [
        _plan_example(
            np.random.default_rng([seed, split_id, index]),
            split,
            (seen_combos, heldout_combos),
            heldout_fraction,
            image_size,
            captions,
        )
        for index in range(num_examples)
    ]
    texts = {"en": [plan["text"] for plan in plans]}
    texts["es"] = translate_en_es(texts["en"], sentence_per_line=version == 2)
    examples = [
        {key: value for key, value in plan.items() if key not in ("variant", "speed")}
        for plan in plans
    ]
    for example, text_es in zip(examples, texts["es"]):
        example["text_es"] = text_es
    for language in speech_languages:
        voices = [speech.voice_name(language, plan["variant"]) for plan in plans]
        speeds = [plan["speed"] for plan in plans]
        waveforms = speech.synthesize(
            texts[language], voices, speeds, sample_rate=sample_rate, max_workers=max_workers
        )
        suffix = language_suffix(language)
        for example, voice, speed, audio in zip(examples, voices, speeds, waveforms):
            example[f"audio{suffix}"] = audio
            example[f"voice{suffix}"] = voice
            example[f"speed{suffix}"] = speed
    return [(f"{split}_{index:06d}", example) for index, example in enumerate(examples)]
