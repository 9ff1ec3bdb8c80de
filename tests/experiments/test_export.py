"""`convert_on_device`: which signatures each quantization converts and what it calibrates on.

The conversion itself is tested in tests/serving/test_on_device.py; here `convert_signatures`
is replaced by a recorder, so the tests see exactly what `mmlm export --format tflite` asks for.
"""

import pytest

from mmlm.experiments import export
from mmlm.serving.on_device import CAPTION_SIGNATURES

SIGNATURES = ("embed_text", "embed_image", "embed_audio", *CAPTION_SIGNATURES)


class _Module:
    def signatures(self):
        return {name: object() for name in SIGNATURES}


def _record(monkeypatch):
    calls = []

    def convert_signatures(module, signatures, quantize, representative_data=None, **kwargs):
        pairs = list(representative_data()) if representative_data is not None else None
        calls.append({"signatures": sorted(signatures), "quantize": quantize, "pairs": pairs})
        calls[-1].update(kwargs)
        return b"tflite"

    monkeypatch.setattr(export, "convert_signatures", convert_signatures)
    return calls


@pytest.mark.parametrize("quantize", ["none", "float16", "dynamic"])
def test_modes_without_calibration_keep_every_signature_and_read_no_data(monkeypatch, quantize):
    # The prefill/step captioner signatures have no calibration examples; a mode that does
    # not calibrate must not ask for any (it used to, and failed with KeyError 'caption_prefill').
    calls = _record(monkeypatch)
    data = object()  # reading it would raise: no examples are needed
    assert export.convert_on_device(None, data, _Module(), quantize) == b"tflite"
    assert calls == [{"signatures": sorted(SIGNATURES), "quantize": quantize, "pairs": None}]


@pytest.mark.parametrize("quantize", ["int8", "selective_int8"])
def test_int8_calibrates_every_kept_signature_and_leaves_out_the_captioners(monkeypatch, quantize):
    from mmlm.config import ExperimentConfig

    calls = _record(monkeypatch)
    examples = [{name: {"x": i} for name in ("embed_text", "embed_image", "embed_audio", "caption")}
                for i in range(3)]
    monkeypatch.setattr(export, "on_device_examples", lambda data, split, count: iter(examples))
    config = ExperimentConfig() if quantize == "selective_int8" else None
    export.convert_on_device(config, object(), _Module(), quantize, representative_examples=3)
    (call,) = calls
    kept = ["embed_audio", "embed_image", "embed_text"]
    assert call["signatures"] == kept and call["quantize"] == quantize
    if quantize == "selective_int8":  # the configured scopes reach the conversion
        assert call["float_scopes"] == config.compression.int8_float_scopes
    assert sorted({name for name, _ in call["pairs"]}) == kept
    assert len(call["pairs"]) == 3 * len(kept)
