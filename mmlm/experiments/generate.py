"""`generate(...)`: text from a trained run, conditioned on a text, an image and/or audio file."""

import dataclasses

import numpy as np

from mmlm.data import factory
from mmlm.data.example_files import read_audio_file, read_image_file
from mmlm.experiments.artifacts import load_backbone
from mmlm.experiments.data import ExperimentData
from mmlm.generation import Generator
from mmlm.serving.export import special_token_ids


@dataclasses.dataclass
class Generated:
    """What `generate` returns: the text, its token ids and (beam search) its score."""

    text: str
    token_ids: list
    score: float | None = None


def generator_for(config, backbone, text_preprocessor):
    """A `Generator` of `backbone` with `config.generation`'s settings."""
    g = config.generation
    return Generator(
        backbone,
        g.max_length or config.data.text.sequence_length,
        **special_token_ids(text_preprocessor),
        strategy=g.strategy.value,
        temperature=g.temperature,
        top_k=g.top_k,
        top_p=g.top_p,
        num_beams=g.num_beams,
        length_penalty=g.length_penalty,
        seed=None if g.seed < 0 else g.seed,
    )


def conditioning_from_files(config, text_preprocessor, text=None, image=None, audio=None):
    """Batch-1 encoder inputs of the given text, image file and audio file ({} for none)."""
    inputs = {}
    if text is not None:
        inputs.update(text_preprocessor([text]))
    if image is not None:
        pixels = read_image_file(image, config.data.image.max_pixels)[None]
        inputs["images"] = factory.image_preprocessor(config.data)(pixels, training=False)
    if audio is not None:
        rate, max_seconds = config.data.audio.sample_rate, config.data.audio.max_seconds
        waveform = read_audio_file(audio, rate, max_seconds)[None]
        inputs.update(factory.audio_preprocessor(config.data)(waveform))
    return inputs


def generate(config, workdir, text=None, image=None, audio=None, prompt=None, backbone=None):
    """Generates one text with `config.generation`'s strategy.

    Args:
        config: the run's `ExperimentConfig` (with any generation overrides).
        workdir: the trained run directory.
        text: conditioning text (goes through the text encoder and the fusion).
        image, audio: paths of an image file and an audio file to condition on.
        prompt: the beginning of the output; generation continues it. A prompt alone (no
            text, image or audio): a language model's continuation, conditioned on nothing.
        backbone: the trained backbone, if already loaded.

    Returns:
        A `Generated`.
    """
    backbone = backbone or load_backbone(workdir)
    text_preprocessor = ExperimentData(config, workdir).text_preprocessor()
    generator = generator_for(config, backbone, text_preprocessor)
    inputs = conditioning_from_files(config, text_preprocessor, text, image, audio)
    if not inputs and prompt is None:
        raise ValueError(
            "generation needs a prompt or at least one of a text, an image or an audio file"
        )
    prompt_ids = lengths = None
    if prompt is not None:
        packed = text_preprocessor([prompt])
        lengths = np.sum(packed["padding_mask"], axis=1) - 1  # without the end token
        prompt_ids = packed["token_ids"].numpy()
    outputs = generator(inputs, prompt_ids, lengths)
    token_ids = outputs["token_ids"]
    decoded = text_preprocessor.detokenize(token_ids).numpy()[0].decode("utf-8")
    score = float(outputs["scores"][0]) if "scores" in outputs else None
    return Generated(decoded, token_ids.numpy()[0].tolist(), score)
