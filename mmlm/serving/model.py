"""A SavedModel as the server sees it: its version, signatures and metadata.

Any SavedModel with signatures can be served. `PATH` is either a SavedModel directory
(`PATH/saved_model.pb`) or a TensorFlow Serving model base directory with numeric version
subdirectories (`PATH/1/saved_model.pb`, `PATH/2/...`); `mmlm.serving.model_manager` decides
which versions of a base directory are served (by default the highest, as TF Serving does).
"""

import dataclasses
import os

from google.protobuf import json_format, text_format
from tensorflow.core.protobuf import saved_model_pb2

from mmlm.backend import tf
from mmlm.serving.input_checks import missing_input_checks

DEFAULT_SIGNATURE = "serving_default"
# What `tf.saved_model.save` writes for every signature: the Predict API of TF Serving.
PREDICT_METHOD = "tensorflow/serving/predict"


@dataclasses.dataclass(frozen=True)
class Signature:
    """One callable signature of a served model.

    Attributes:
        name: the signature key (`serving_default`, `embed_text`, ...).
        function: the loaded concrete function; called with keyword tensors, returns a dict.
        inputs: input name -> `tf.TensorSpec` (shape with `None` for unknown sizes).
        outputs: output name -> `tf.TensorSpec`.
    """

    name: str
    function: object
    inputs: dict
    outputs: dict

    @property
    def batchable(self):
        """Whether every input and output is batch-major (a leading dimension of any size), so
        that requests can be concatenated along axis 0 and their outputs split back."""
        specs = list(self.inputs.values()) + list(self.outputs.values())
        return bool(self.inputs) and all(_has_batch_dimension(spec.shape) for spec in specs)

    def __call__(self, inputs):
        """Runs the signature on {name: NumPy array}; returns {name: NumPy array}."""
        tensors = {name: tf.constant(inputs[name], self.inputs[name].dtype) for name in inputs}
        return {name: value.numpy() for name, value in self.function(**tensors).items()}


def format_shape(dims):
    """`[-1, 64, 3]`: a shape as TF Serving's metadata writes it (-1 for an unknown size)."""
    if isinstance(dims, tf.TensorShape):
        if dims.rank is None:
            return "[unknown rank]"
        dims = dims.as_list()
    return "[" + ", ".join("-1" if d is None else str(d) for d in dims) + "]"


def call_error_message(signature, error):
    """What a client is told when `signature` failed on its inputs with `error`: the op's
    message, without the Python traceback TensorFlow puts in front of it."""
    names = sorted(signature.inputs)
    what = f"input '{names[0]}'" if len(names) == 1 else f"inputs ({', '.join(names)})"
    return f"signature '{signature.name}' failed on its {what}: {op_message(error)}"


def op_message(error):
    """The useful part of a TensorFlow error (`Graph execution error: Detected at node ...`
    precedes it, `[[{{node ...}}]]` follows it)."""
    if not isinstance(error, tf.errors.OpError):
        return str(error)
    lines = [line for line in error.message.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.lstrip().startswith("[[") and i > 0:
            return lines[i - 1].strip()
    return lines[-1].strip() if lines else type(error).__name__


def _has_batch_dimension(shape):
    return shape.rank is not None and shape.rank >= 1 and shape[0] is None


@dataclasses.dataclass(frozen=True)
class ServedModel:
    """A loaded SavedModel with its name and version.

    Attributes:
        name: the model name of the REST paths (`/v1/models/NAME`).
        version: the served version, a string of digits as in TF Serving's JSON.
        path: the SavedModel directory that was loaded.
        signatures: signature name -> `Signature`.
        signature_defs: signature name -> its `SignatureDef` proto in the SavedModel (what TF
            Serving reports as metadata).
        loaded: the object `tf.saved_model.load` returned; kept alive for its variables.
        warmup_requests: warmup records replayed before the version was served.
        missing_checks: `MissingCheck`s of signatures exported without mmlm's input size
            checks (an older export; see `mmlm.serving.input_checks`).
    """

    name: str
    version: str
    path: str
    signatures: dict
    signature_defs: dict
    loaded: object
    warmup_requests: int = 0
    missing_checks: tuple = ()

    def metadata(self):
        """The body of `GET /v1/models/NAME[/versions/V]/metadata`, as TF Serving writes it
        (proto field names, int64 as strings, default values included)."""
        defs = {
            key: json_format.MessageToDict(
                value,
                preserving_proto_field_name=True,
                always_print_fields_with_no_presence=True,
            )
            for key, value in self.signature_defs.items()
        }
        return {
            "model_spec": {"name": self.name, "signature_name": "", "version": self.version},
            "metadata": {"signature_def": {"signature_def": defs}},
        }


def resolve_version(path):
    """(SavedModel directory, version) of `path`: the directory itself, as version "1" (or as
    its own name when that is a number, `models/NAME/3`), or its highest numeric subdirectory.

    Raises:
        FileNotFoundError: if `path` holds neither layout.
    """
    path = os.path.abspath(path)
    if _is_saved_model(path):
        base = os.path.basename(path)
        return path, base if base.isdigit() else "1"
    versions = list_versions(path)
    if not versions:
        raise FileNotFoundError(no_model_message(path))
    return versions[max(versions)], str(max(versions))


def no_model_message(path):
    return (
        f"no SavedModel at {path}: expected {path}/saved_model.pb or numeric version "
        f"subdirectories ({path}/1/saved_model.pb) as TensorFlow Serving lays them out"
    )


def is_version_base(path):
    """Whether `path` is a model base directory (numeric version subdirectories) rather than
    a SavedModel directory itself."""
    return os.path.isdir(path) and not _is_saved_model(path)


def list_versions(base):
    """{version number: directory} of the numeric subdirectories of `base` holding a SavedModel
    (`saved_model.pb`); a version directory still being written is left out until it has one."""
    if not os.path.isdir(base):
        return {}
    return {
        int(entry): os.path.join(base, entry)
        for entry in os.listdir(base)
        if entry.isdigit() and _is_saved_model(os.path.join(base, entry))
    }


def _is_saved_model(path):
    return any(
        os.path.isfile(os.path.join(path, f)) for f in ("saved_model.pb", "saved_model.pbtxt")
    )


def default_model_name(path):
    """The directory name of `path`, skipping a numeric version directory (`scenes/1`)."""
    path = os.path.abspath(path)
    base = os.path.basename(path)
    return os.path.basename(os.path.dirname(path)) if base.isdigit() else base


def load_model(path, name=None):
    """Loads the SavedModel at `path` (see the module docstring) for serving.

    Args:
        path: a SavedModel directory or a TF Serving model base directory.
        name: the model name in REST paths (default: the directory name).
    Returns:
        A `ServedModel`.
    Raises:
        FileNotFoundError: if there is no SavedModel at `path`.
        ValueError: if the SavedModel has no signatures.
    """
    directory, version = resolve_version(path)
    return load_version(directory, name or default_model_name(path), version)


def load_version(directory, name, version):
    """Loads the SavedModel in `directory` as version `version` (digits) of model `name`.

    Raises:
        ValueError: if the SavedModel has no signatures.
        Whatever `tf.saved_model.load` raises for a missing or broken SavedModel.
    """
    loaded = tf.saved_model.load(directory)
    signatures = {key: _signature(key, function) for key, function in loaded.signatures.items()}
    if not signatures:
        raise ValueError(f"the SavedModel at {directory} has no signatures to serve")
    meta_graph = read_meta_graph(directory)
    defs = meta_graph.signature_def
    defs = {key: defs[key] for key in sorted(signatures) if key in defs}
    return ServedModel(
        name=name,
        version=str(version),
        path=directory,
        signatures=signatures,
        signature_defs=defs,
        loaded=loaded,
        missing_checks=tuple(missing_input_checks(meta_graph, defs)),
    )


def _signature(key, function):
    _, inputs = function.structured_input_signature
    outputs = {
        name: tf.TensorSpec(value.shape, value.dtype, name)
        for name, value in function.structured_outputs.items()
    }
    return Signature(name=key, function=function, inputs=dict(inputs), outputs=outputs)


def read_meta_graph(directory):
    """The `MetaGraphDef` of the SavedModel in `directory` (its signature defs and graph)."""
    pb_path = os.path.join(directory, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    if os.path.isfile(pb_path):
        with open(pb_path, "rb") as f:
            saved_model.ParseFromString(f.read())
    else:
        with open(os.path.join(directory, "saved_model.pbtxt")) as f:
            text_format.Parse(f.read(), saved_model)
    return saved_model.meta_graphs[0]
