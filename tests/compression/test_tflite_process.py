"""Conversions in a separate process: calibration data through a file, errors with messages."""

import os

import numpy as np

from mmlm.compression.tflite_process import (
    TFLiteConversionError,
    convert_saved_model_in_subprocess,
    load_representative_data,
    save_representative_data,
)
from mmlm.testing import TestCase


class SeparateProcessTest(TestCase):
    def test_a_failing_conversion_names_the_problem(self):
        missing = os.path.join(self.get_temp_dir(), "no_saved_model")
        with self.assertRaises(TFLiteConversionError) as raised:
            convert_saved_model_in_subprocess(missing, ["embed"], "dynamic")
        what, why = str(raised.exception).split(" failed: ", 1)
        self.assertEqual(what, f"converting signatures ['embed'] of {missing} to a dynamic .tflite")
        self.assertIn(missing, why)  # the child's exception: the SavedModel is not there

    def test_representative_data_round_trips_through_a_file(self):
        rng = np.random.default_rng(0)
        pairs = [
            ("embed_text", {"token_ids": rng.integers(0, 9, (1, 4)).astype("int32")}),
            ("embed_audio", {"audio": rng.normal(size=(1, 5)), "audio_length": [3]}),
        ]
        path = os.path.join(self.get_temp_dir(), "representative.npz")
        save_representative_data(lambda: iter(pairs), path)
        loaded = list(load_representative_data(path)())
        self.assertEqual([s for s, _ in loaded], [s for s, _ in pairs])
        for (_, expected), (_, actual) in zip(pairs, loaded):
            self.assertEqual(sorted(actual), sorted(expected))
            for name in expected:
                self.assertAllEqual(actual[name], np.asarray(expected[name]))
        with self.assertRaisesRegex(ValueError, "yielded no examples"):
            save_representative_data(lambda: iter(()), path)
