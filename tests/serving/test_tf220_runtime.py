"""An export made with TensorFlow 2.21 runs in TensorFlow 2.20, the TensorFlow of the newest
TensorFlow Serving release: every signature, its warmup records and its input limits, with
the same outputs as under 2.21. Slow: the first run creates .venv-tf220 (tools/setup_tf220.sh,
about 600 MB from the package registry)."""

import os
import sys

import numpy as np
import pytest

from mmlm.serving.export import ServingModule, export_saved_model
from mmlm.testing import TestCase
from mmlm.testing.models import SEQUENCE_LENGTH, tiny_backbone, tiny_preprocessors
from mmlm.testing.processes import REPO, environment, run
from mmlm.testing.signature_calls import (
    call_signatures,
    check_cases,
    signature_cases,
    signature_inputs,
)

VENV = os.environ.get("MMLM_TF220_VENV", os.path.join(REPO, ".venv-tf220"))
# Float outputs may differ by TensorFlow's kernels between versions; measured (two runs): at
# most 9.5e-7 (generate_beam's scores), 6e-8 for embeddings, most outputs identical.
RTOL, ATOL = 1e-5, 1e-6
# Small limits, so that inputs past each of them stay small.
MAX_TEXT_BYTES, MAX_AUDIO_SECONDS = 100, 1.0  # signature_inputs: 5,000 samples at 8 kHz


@pytest.mark.slow
class TF220RuntimeTest(TestCase):
    def test_every_signature_matches_tf_2_21(self):
        run(
            ["bash", os.path.join(REPO, "tools", "setup_tf220.sh")],
            timeout=1800,
            env=environment(TF220_VENV=VENV),
            what="tools/setup_tf220.sh",
        )
        preprocessors = tiny_preprocessors()
        module = ServingModule(
            tiny_backbone(),
            **preprocessors,
            caption_max_length=SEQUENCE_LENGTH,
            max_text_bytes=MAX_TEXT_BYTES,
            max_audio_seconds=MAX_AUDIO_SECONDS,
        )
        directory = self.get_temp_dir()
        path = os.path.join(directory, "model")
        names = export_saved_model(module, path)
        rate = preprocessors["audio_preprocessor"].sample_rate
        inputs = signature_inputs(rate)
        cases = signature_cases(MAX_TEXT_BYTES, MAX_AUDIO_SECONDS, rate)
        results = {}
        for version, python in (("2.21", sys.executable), ("2.20", f"{VENV}/bin/python")):
            os.makedirs(os.path.join(directory, version))
            results[version] = call_signatures(
                python, path, inputs, cases, os.path.join(directory, version)
            )
            self.assertTrue(results[version]["tensorflow"].startswith(f"{version}."))
            self.assertTrue(results[version]["tensorflow_text"].startswith(f"{version}."))
            self.assertFalse(results[version]["mmlm_imported"])
            self.assertEqual(names, results[version]["signatures"])
            self.assertEqual(names, sorted(results[version]["outputs"]))  # each one called
            self.assertEqual(names, results[version]["warmup"])  # one record each, replayed
            check_cases(self, results[version], cases)  # the limits hold in both
        new, old = results["2.21"], results["2.20"]
        for name in names:
            self._assert_same_outputs(new["outputs"][name], old["outputs"][name], name)
        for case in ("jpeg", "bmp"):
            self._assert_same_outputs(new["cases"][case], old["cases"][case], case)

    def _assert_same_outputs(self, new, old, what):
        self.assertEqual(sorted(new), sorted(old), what)
        for key in new:
            expected, actual = np.array(new[key]), np.array(old[key])
            if expected.dtype.kind == "f":
                self.assertAllClose(expected, actual, rtol=RTOL, atol=ATOL, msg=f"{what}/{key}")
                print(f"{what}/{key}: max |2.20 - 2.21| = {np.max(np.abs(expected - actual)):.2g}")
            else:  # token ids, text: exactly equal
                self.assertEqual(new[key], old[key], f"{what}/{key}")
