"""Conversions in a separate process: calibration data through a file, errors with messages."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np

from mmlm.compression import tflite_process
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

    def test_the_child_dies_with_its_parent(self):
        # The parent starts a child that calls die_with_parent (loading only that module's
        # file, so no TensorFlow start-up), reports the child's pid, and is then SIGKILLed.
        child = textwrap.dedent(f"""
            import importlib.util, sys, time
            spec = importlib.util.spec_from_file_location("p", {tflite_process.__file__!r})
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            module.die_with_parent(int(sys.argv[1]))
            print("ready", flush=True)
            time.sleep(120)
        """)
        parent = textwrap.dedent(f"""
            import os, subprocess, sys, time
            child = subprocess.Popen([sys.executable, "-c", {child!r}, str(os.getpid())],
                                     stdout=subprocess.PIPE, text=True)
            assert child.stdout.readline().strip() == "ready"
            print(child.pid, flush=True)
            time.sleep(120)
        """)
        process = subprocess.Popen(
            [sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True
        )
        child_pid = int(process.stdout.readline())
        self.assertTrue(_alive(child_pid))
        process.send_signal(signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + 10
        while _alive(child_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(_alive(child_pid), "the conversion child outlived its killed parent")


def _alive(pid):
    """True while `pid` runs (a zombie waiting to be reaped counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
