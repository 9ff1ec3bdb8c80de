"""The one module that chooses Keras for mmlm.

mmlm runs on tf_keras (Keras 2): TFMOT only understands tf_keras models, tf_keras `fit` works under
every `tf.distribute` strategy, and keras-nlp 0.12 / keras-cv 0.9 build tf_keras layers when
`TF_USE_LEGACY_KERAS=1`. A Keras 3 layer inside a tf_keras model silently becomes untracked ops
that never train, so mixing the two is refused here instead of discovered later.

Everything else in mmlm does `from mmlm.backend import keras, tf` (and `keras_nlp`, `keras_cv`).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class KerasBackendError(ImportError):
    """Raised when mmlm is imported into a process that already runs Keras 3."""


def _keras3_already_active():
    """Returns a reason string if Keras 3 is already the Keras of this process, else None."""
    keras_module = sys.modules.get("keras")
    version = getattr(keras_module, "__version__", "") if keras_module else ""
    if version.split(".")[0].isdigit() and int(version.split(".")[0]) >= 3:
        if os.environ.get("TF_USE_LEGACY_KERAS") != "1":
            return f"Keras {version} was imported before mmlm without TF_USE_LEGACY_KERAS=1"
    if "tensorflow_model_optimization" in sys.modules and "keras_nlp" not in sys.modules:
        # Measured: TFMOT imported first leaves keras-nlp's layers unable to build
        # (PositionEmbedding fails on symbolic shapes), so say so instead of failing later.
        return "tensorflow_model_optimization was imported before mmlm"
    nlp_config = sys.modules.get("keras_nlp.src.backend.config")
    if nlp_config is not None and nlp_config.keras_3():
        return "keras_nlp was imported before mmlm and is building Keras 3 layers"
    return None


_reason = _keras3_already_active()
if _reason:
    raise KerasBackendError(
        f"mmlm needs tf_keras (Keras 2), but {_reason}. Import mmlm first, or set "
        "TF_USE_LEGACY_KERAS=1 before anything imports TensorFlow or Keras, so that one "
        "Keras serves the whole process."
    )
os.environ["TF_USE_LEGACY_KERAS"] = "1"

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

if tf.keras.layers.Layer is not keras.layers.Layer:  # tf.keras was resolved to Keras 3 already.
    raise KerasBackendError(
        "TensorFlow's tf.keras already points at Keras 3 in this process; mmlm needs tf_keras. "
        "Set TF_USE_LEGACY_KERAS=1 before the first use of tf.keras, or import mmlm first."
    )

import keras_cv  # noqa: E402
import keras_nlp  # noqa: E402  (after the environment variable: builds tf_keras layers)

__all__ = ["keras", "keras_cv", "keras_nlp", "tf", "register", "KerasBackendError"]


def _patch_keras_core_sqrt():
    """keras-nlp 0.12 on Keras 2 computes through keras-core 0.1.7, whose `sqrt` hands float
    tensors to `tf.experimental.numpy.sqrt`; that fails on bfloat16 (it calls `.astype`, which
    only exists with NumPy behaviour enabled), breaking keras-nlp's decoder attention under
    `mixed_bfloat16`. `tf.math.sqrt` is the same function for floating tensors."""
    from keras_core.src.backend.tensorflow import numpy as keras_core_numpy

    original = keras_core_numpy.sqrt

    def sqrt(x):
        x = keras_core_numpy.convert_to_tensor(x)
        if x.dtype.is_floating:
            return tf.math.sqrt(x)
        return original(x)

    keras_core_numpy.sqrt = sqrt


_patch_keras_core_sqrt()


def register(cls):
    """Registers a class for Keras (de)serialization under the `mmlm` package name."""
    return keras.saving.register_keras_serializable(package="mmlm")(cls)
