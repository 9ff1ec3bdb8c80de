"""The device's decoding loop over the `caption_prefill` / `caption_step` signatures.

The loop is a few lines of host code on purpose: it is what an app on a phone writes (in
Kotlin, Swift or C++) around the two LiteRT signatures, so it is kept here in its plainest form
and tested against the SavedModel's greedy captions.
"""

import numpy as np

from mmlm.serving.on_device import CACHE_KINDS


def greedy_steps(prefill, step, inputs, max_length, start_id, end_id, pad_id):
    """Greedy caption token ids (1, max_length) int32 of one example, batch 1.

    Args:
        prefill: callable, `caption_prefill`'s inputs → its outputs (a dict of arrays).
        step: callable, `caption_step`'s inputs → its outputs.
        inputs: the `caption_prefill` inputs of one example.
        max_length: token buffer length, start token included (the cache's length).
        start_id, end_id, pad_id: special token ids.

    Returns:
        The start token, the generated tokens up to and including the first end token, then
        `pad_id` (as the `caption` signature and the SavedModel's `caption` return them).
    """
    outputs = {k: np.asarray(v) for k, v in prefill(inputs).items()}
    cache = {k: v for k, v in outputs.items() if k.startswith(CACHE_KINDS)}
    mask = outputs["encoder_padding_mask"]
    token_ids = np.full((1, max_length), pad_id, np.int32)
    token_ids[0, 0] = start_id
    token = outputs["token"].astype(np.int32).reshape(1)
    for index in range(1, max_length):
        token_ids[0, index] = token[0]
        if token[0] == end_id or index == max_length - 1:
            break
        feed = {"token": token, "index": np.array([index], np.int32)}
        feed["encoder_padding_mask"] = mask
        outputs = step({**feed, **cache})
        cache.update({k: np.asarray(v) for k, v in outputs.items() if k.startswith("self_")})
        token = np.asarray(outputs["token"]).astype(np.int32).reshape(1)
    return token_ids
