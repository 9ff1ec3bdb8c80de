"""TFLite conversion of a SavedModel in a process of its own.

TF 2.21's converter keeps about 20 MB per `convert()` call for the life of the process, so a
process that converts many variants (`mmlm compress`) grows with each one. Here every
conversion runs in a fresh Python process (`python -m mmlm.compression.tflite_process`) that
reads the SavedModel and, for int8, the calibration examples from files, and writes the
`.tflite` bytes to a file; its memory goes back to the system when it exits. An exception in
the child comes back as a `TFLiteConversionError` carrying its type and message. The child
dies with its parent (Linux): a killed `mmlm compress` or `mmlm export` leaves no conversion
running on.
"""

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile

import numpy as np

_REPRESENTATIVE = "representative.npz"


class TFLiteConversionError(RuntimeError):
    """A conversion in the separate process failed; the message says how."""


def save_representative_data(representative_data, path):
    """Writes the `(signature, {name: array})` pairs of a callable to one `.npz` file."""
    arrays, order = {}, []
    for i, (signature, inputs) in enumerate(representative_data()):
        order.append([signature, sorted(inputs)])
        for name, value in inputs.items():
            arrays[f"{i}/{name}"] = np.asarray(value)
    if not order:
        raise ValueError("the representative data yielded no examples")
    arrays["order"] = np.array(json.dumps(order))
    np.savez(path, **arrays)


def load_representative_data(path):
    """The callable `save_representative_data` stored (yields the same pairs, in order)."""
    with np.load(path) as stored:
        data = {key: stored[key] for key in stored.files}
    order = json.loads(str(data.pop("order")))

    def representative_data():
        for i, (signature, names) in enumerate(order):
            yield signature, {name: data[f"{i}/{name}"] for name in names}

    return representative_data


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid):
    """Makes the kernel SIGKILL this process when its parent dies (Linux; elsewhere nothing).

    Exits at once if the parent `parent_pid` is already gone (this process was then adopted
    before it could ask).
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return  # not fatal: the conversion still works, it just may outlive a killed parent
    if os.getppid() != parent_pid:
        os._exit(1)


def convert_saved_model(
    path, signature_keys, quantize, representative_data, strip_names, float_scopes=None
):
    """In this process: the `.tflite` bytes of a SavedModel's signatures (see `tflite`)."""
    from mmlm.backend import tf
    from mmlm.compression.tflite import _convert

    converter = tf.lite.TFLiteConverter.from_saved_model(path, signature_keys=signature_keys)
    return _convert(converter, quantize, representative_data, strip_names, float_scopes)


def convert_saved_model_in_subprocess(
    path,
    signature_keys,
    quantize,
    representative_data=None,
    strip_names=True,
    timeout=None,
    float_scopes=None,
):
    """`convert_saved_model` run by a fresh Python process (same interpreter and environment).

    Raises:
        TFLiteConversionError: the child raised (its exception type and message are in the
            error) or died (its exit code and the end of its stderr are).
    """
    with tempfile.TemporaryDirectory() as directory:
        out, error = os.path.join(directory, "model.tflite"), os.path.join(directory, "error")
        command = [sys.executable, "-m", __name__, path, ",".join(signature_keys), quantize]
        command += ["--out", out, "--error", error, "--parent-pid", str(os.getpid())]
        if representative_data is not None:
            stored = os.path.join(directory, _REPRESENTATIVE)
            save_representative_data(representative_data, stored)
            command += ["--representative", stored]
        if not strip_names:
            command.append("--keep-names")
        if float_scopes is not None:
            command += ["--float-scopes", json.dumps(list(float_scopes))]
        what = f"converting signatures {list(signature_keys)} of {path} to a {quantize} .tflite"
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if os.path.exists(error):
            with open(error, encoding="utf-8") as f:
                raise TFLiteConversionError(f"{what} failed: {f.read()}")
        if result.returncode != 0 or not os.path.exists(out):
            tail = "\n".join(result.stderr.strip().splitlines()[-20:])
            raise TFLiteConversionError(
                f"{what}: the conversion process exited with {result.returncode} and wrote no "
                f"model; the end of its stderr:\n{tail}"
            )
        with open(out, "rb") as f:
            return f.read()


def main(argv=None):
    parser = argparse.ArgumentParser(description="Convert a SavedModel's signatures to TFLite.")
    parser.add_argument("saved_model")
    parser.add_argument("signatures", help="comma-separated signature keys")
    parser.add_argument("quantize")
    parser.add_argument("--out", required=True)
    parser.add_argument("--error", required=True, help="where an exception's message goes")
    parser.add_argument("--representative", default=None)
    parser.add_argument("--keep-names", action="store_true")
    parser.add_argument("--parent-pid", type=int, default=None, help="die when it dies")
    parser.add_argument("--float-scopes", default=None, help="JSON list (selective_int8)")
    args = parser.parse_args(argv)
    if args.parent_pid is not None:
        die_with_parent(args.parent_pid)
    try:
        representative = None
        if args.representative:
            representative = load_representative_data(args.representative)
        content = convert_saved_model(
            args.saved_model,
            args.signatures.split(","),
            args.quantize,
            representative,
            strip_names=not args.keep_names,
            float_scopes=json.loads(args.float_scopes) if args.float_scopes else None,
        )
    except Exception as e:  # reported to the parent, which raises it
        with open(args.error, "w", encoding="utf-8") as f:
            f.write(f"{type(e).__name__}: {e}")
        return 1
    with open(args.out, "wb") as f:
        f.write(content)
    return 0


if __name__ == "__main__":
    sys.exit(main())
