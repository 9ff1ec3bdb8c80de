"""SavedModel signatures of a text-only language model: continue a prompt string in the graph
with greedy decoding, beam search, top-k or top-p sampling."""

from mmlm.backend import tf
from mmlm.generation import Generator

# Signature name → decoding strategy.
CONTINUATION_SIGNATURES = {
    "continue": "greedy",
    "continue_beam": "beam",
    "continue_top_k": "top_k",
    "continue_top_p": "top_p",
}


def continuation_generators(backbone, max_length, token_ids, decoding):
    """{strategy: `Generator`} of the continuation signatures.

    Args:
        backbone: a text-only `MultimodalBackbone` with a decoder.
        max_length: token buffer (start token and prompt included).
        token_ids: `start_id`, `end_id`, `pad_id`.
        decoding: `Generator` keyword arguments fixed at export (num_beams, length_penalty,
            temperature, top_k, top_p, seed).
    """
    return {
        strategy: Generator(backbone, max_length, **token_ids, strategy=strategy, **decoding)
        for strategy in CONTINUATION_SIGNATURES.values()
    }


def sampler_variables(generators):
    """The state variables of the generators' samplers' seed generators: a SavedModel must
    track them (assigned to the exported module) to save a sampling signature."""
    found = []
    for generator in generators.values():
        seed_generator = getattr(generator.sampler, "seed_generator", None)
        if seed_generator is not None:
            state = seed_generator.state
            found.append(state.value if isinstance(state.value, tf.Variable) else state)
    return found


def continue_prompts(generator, tokenize, text_preprocessor, prompt):
    """Continuations of (B,) prompt strings: text (B,), token_ids (B, L) [, scores (B,)].

    `tokenize` (the module's `text_inputs`: size limit, then the text preprocessor) packs the
    prompt as in training; its end token is dropped so that the decoder continues after its
    last word.
    """
    packed = tokenize(prompt)  # token_ids, padding_mask (B, L)
    lengths = tf.reduce_sum(tf.cast(packed["padding_mask"], tf.int32), axis=1) - 1
    outputs = generator({}, packed["token_ids"], lengths)
    outputs["text"] = text_preprocessor.detokenize(outputs["token_ids"])
    return outputs


def add_continuation_signatures(add, generators, tokenize, text_preprocessor):
    """Registers the `CONTINUATION_SIGNATURES` with `add(name, function, *specs)`."""
    for name, strategy in CONTINUATION_SIGNATURES.items():
        add(
            name,
            lambda prompt, s=strategy: continue_prompts(
                generators[s], tokenize, text_preprocessor, prompt
            ),
            tf.TensorSpec([None], tf.string, name="prompt"),
        )
