"""The tiny on-device module every on-device/TFLite serving test starts from."""

import numpy as np

from mmlm.testing.models import SEQUENCE_LENGTH, tiny_backbone
from mmlm.testing.test_case import TestCase

# Greedy captions of the tiny backbone: `tiny_vocabulary`'s start, end and pad ids.
CAPTION = {"max_length": SEQUENCE_LENGTH, "start_id": 2, "end_id": 3, "pad_id": 0}


class OnDeviceTestCase(TestCase):
    """A `TestCase` whose class holds `backbone` (`tiny_backbone()`) and `module`, its
    `OnDeviceModule` with the `CAPTION` captioner. Subclasses extend `setUpClass`."""

    @classmethod
    def setUpClass(cls):
        from mmlm.serving.on_device import OnDeviceModule

        super().setUpClass()
        cls.backbone = tiny_backbone()
        cls.module = OnDeviceModule(cls.backbone, SEQUENCE_LENGTH, pad_id=0, caption=CAPTION)


def cast_to_inputs(runner, signature, feed):
    """`feed`'s arrays cast to the dtypes of `signature`'s inputs in a `TFLiteRunner`."""
    details = runner.input_details(signature)
    return {name: np.asarray(feed[name]).astype(d["dtype"]) for name, d in details.items()}
