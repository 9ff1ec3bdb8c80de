"""`TFLiteRunner`: runs a converted `.tflite` with ai-edge-litert, the on-device runtime."""

import time

import numpy as np


class TFLiteRunner:
    """Runs a converted model with the ai-edge-litert interpreter (the on-device runtime).

    Args:
        model_content: the `.tflite` bytes.
        num_threads: interpreter threads.

    Call arguments:
        inputs: dict input name → array.
        signature: which signature to run (None: the only one).
    """

    def __init__(self, model_content, num_threads=1):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=model_content, num_threads=num_threads)
        self.signatures = tuple(self.interpreter.get_signature_list())
        self._runners = {}

    def runner(self, signature=None):
        if signature is None:
            if len(self.signatures) != 1:
                raise ValueError(f"choose a signature: the model has {list(self.signatures)}")
            signature = self.signatures[0]
        if signature not in self.signatures:
            raise KeyError(f"no signature {signature!r} in the model; it has {self.signatures}")
        if signature not in self._runners:
            self._runners[signature] = self.interpreter.get_signature_runner(signature)
        return self._runners[signature]

    def input_details(self, signature=None):
        return self.runner(signature).get_input_details()

    def __call__(self, inputs, signature=None):
        runner = self.runner(signature)
        details = runner.get_input_details()
        missing = sorted(set(details) - set(inputs))
        if missing:
            raise KeyError(f"missing inputs {missing} of signature {signature!r}")
        feed = {
            name: np.asarray(inputs[name]).astype(detail["dtype"])
            for name, detail in details.items()
        }
        outputs = runner(**feed)
        return outputs if len(outputs) > 1 else next(iter(outputs.values()))

    def time_calls(self, inputs, signature=None, runs=50, warmup=2):
        """Wall times in ms of `runs` calls on `inputs`, after `warmup` untimed calls."""
        for _ in range(warmup):
            self(inputs, signature)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            self(inputs, signature)
            times.append(1000.0 * (time.perf_counter() - start))
        return np.array(times)
