"""mmlm selects tf_keras in a fresh process and refuses to join a Keras 3 process."""

import subprocess
import sys


def _run(code):
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    return result.returncode, result.stdout, result.stderr


def test_fresh_import_gives_tf_keras():
    code, out, err = _run(
        "import mmlm; from mmlm.backend import keras, keras_nlp, tf\n"
        "import tf_keras\n"
        "assert keras is tf_keras, keras\n"
        "assert isinstance(keras_nlp.layers.TransformerEncoder(8, 2), tf_keras.layers.Layer)\n"
        "assert tf.keras.layers.Dense is tf_keras.layers.Dense\n"
        "print('ok')"
    )
    assert code == 0, err
    assert out.splitlines()[-1] == "ok"


def test_import_after_keras3_fails_clearly():
    code, _, err = _run("import keras\nimport mmlm")
    assert code != 0
    assert "KerasBackendError" in err
    assert "mmlm needs tf_keras (Keras 2)" in err
    assert "TF_USE_LEGACY_KERAS=1" in err


def test_import_after_tfmot_fails_clearly():
    code, _, err = _run("import tensorflow_model_optimization\nimport mmlm")
    assert code != 0
    assert "tensorflow_model_optimization was imported before mmlm" in err
