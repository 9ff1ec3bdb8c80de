"""On-device captioning: the prefill/step `.tflite` decoder against the while-loop captioner.

    python benchmarks/tflite_decoding.py [--config configs/scenes.py] [--workdir RUN]
        [--examples 20] [--json PATH]

With `--workdir` the run's trained backbone is used; without, the config's backbone with random
weights (vocabulary 200), whose captions say nothing but whose numerics are the same code.
Inputs are random images and noise audio of random length with random modality presence.
For float32 and dynamic int8 `.tflite` files (signatures `caption`, `caption_prefill`,
`caption_step`) it reports, against the greedy captions of the SavedModel's `caption`
function (a `Generator`, run in TensorFlow):

- exact: captions equal token for token;
- agreement: positions (after the start token, up to the reference's end token or the buffer's
  end) where the `.tflite` caption has the reference's token;
- tokens/s: generated tokens per second of the host loop over `caption_step`
  (`mmlm.serving.step_decoding.greedy_steps`) and of the `caption` signature (a WHILE loop
  that reruns the decoder over the whole buffer per token), batch 1, one thread.

Targets of issue 20: float exact on every example; dynamic int8 agreement >= 0.95. Times are
only meaningful on an idle machine; the load average is printed.
"""

import argparse
import importlib.util
import json
import os
import time

import numpy as np

import mmlm  # noqa: F401  (selects tf_keras)
from mmlm.compression.tflite import convert_signatures
from mmlm.generation import Generator
from mmlm.serving.on_device import OnDeviceModule, length_mask
from mmlm.serving.step_decoding import greedy_steps
from mmlm.serving.tflite_runner import TFLiteRunner
from mmlm.tasks.builders import build_backbone

NAMES = ("caption", "caption_prefill", "caption_step")
IDS = {"start_id": 2, "end_id": 3, "pad_id": 0}


def load(config_path, workdir):
    spec = importlib.util.spec_from_file_location("benchmark_config", config_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    if workdir:
        from mmlm.experiments.artifacts import load_backbone
        from mmlm.experiments.data import ExperimentData
        from mmlm.serving.export import special_token_ids

        text = ExperimentData(config, workdir).text_preprocessor()
        return config, load_backbone(workdir), special_token_ids(text)
    return config, build_backbone(config, 200), IDS


def examples(module, count, seed=0):
    rng = np.random.default_rng(seed)
    image_shape = module._shape("image", "images")
    audio_shape = module._shape("audio", "audio")
    for _ in range(count):
        length = int(rng.integers(audio_shape[1] // 4, audio_shape[1] + 1))
        audio = np.zeros(audio_shape, np.float32)
        audio[0, :length] = rng.normal(0, 0.1, length)
        image, sound = [(True, True), (True, False), (False, True)][int(rng.integers(3))]
        yield {
            "images": rng.uniform(0, 1, image_shape).astype(np.float32),
            "audio": audio,
            "audio_length": np.array([length], np.int32),
            "image_present": np.array([image]),
            "audio_present": np.array([sound]),
        }


def reference(generator, feed):
    inputs = dict(feed)
    inputs["audio_padding_mask"] = length_mask(inputs.pop("audio_length"), feed["audio"].shape[1])
    return generator(inputs)["token_ids"].numpy()


def generated(tokens, end_id, pad_id):
    """Positions after the start token up to the end token (or the buffer's end)."""
    row = tokens[0, 1:]
    ends = np.flatnonzero(row == end_id)
    return row[: ends[0] + 1] if len(ends) else row


def measure(runner, feeds, expected, caption):
    def call(name):
        return lambda feed: runner.runner(name)(**feed)

    exact, agree, total, step_time, loop_time, tokens, loop_tokens = 0, 0, 0, 0.0, 0.0, 0, 0
    for feed, reference_ids in zip(feeds, expected):
        start = time.perf_counter()
        ids = greedy_steps(call("caption_prefill"), call("caption_step"), feed, **caption)
        step_time += time.perf_counter() - start
        start = time.perf_counter()
        loop_ids = runner(feed, "caption")
        loop_time += time.perf_counter() - start
        want = generated(reference_ids, caption["end_id"], caption["pad_id"])
        got = ids[0, 1 : 1 + len(want)]
        exact += int(np.array_equal(ids, reference_ids))
        agree += int(np.sum(got == want))
        total += len(want)
        tokens += len(generated(ids, caption["end_id"], caption["pad_id"]))
        loop_tokens += len(generated(loop_ids, caption["end_id"], caption["pad_id"]))
    return {
        "exact": exact / len(feeds),
        "agreement": agree / total,
        "step_tokens_per_s": tokens / step_time,
        "while_loop_tokens_per_s": loop_tokens / loop_time,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/scenes.py")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}")
    config, backbone, ids = load(args.config, args.workdir)
    max_length = config.export.caption_max_length or config.data.text.sequence_length
    caption = {"max_length": max_length, **ids}
    module = OnDeviceModule(
        backbone, config.data.text.sequence_length, ids["pad_id"], caption=caption
    )
    generator = Generator(backbone, **caption)
    feeds = list(examples(module, args.examples))
    expected = [reference(generator, feed) for feed in feeds]
    results = {}
    for quantize in ("none", "dynamic"):
        content = convert_signatures(module, module.signatures(NAMES), quantize)
        results[quantize] = {"size_bytes": len(content)}
        results[quantize].update(measure(TFLiteRunner(content), feeds, expected, caption))
    print(f"{len(feeds)} examples, buffer {max_length}, weights: {args.workdir or 'random'}")
    print(f"{'quantize':<9}{'exact':>7}{'agreement':>11}{'step tok/s':>12}{'loop tok/s':>12}")
    for quantize, r in results.items():
        print(
            f"{quantize:<9}{r['exact']:>7.2f}{r['agreement']:>11.3f}"
            f"{r['step_tokens_per_s']:>12.1f}{r['while_loop_tokens_per_s']:>12.1f}"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
