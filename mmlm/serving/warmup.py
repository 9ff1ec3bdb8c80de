"""SavedModel warmup records, as TensorFlow Serving reads them.

`SAVED_MODEL_DIR/assets.extra/tf_serving_warmup_requests` is a TFRecord file of
`tensorflow.serving.PredictionLog` protos, each a `predict_log` holding a `PredictRequest`.
A server replays them after loading a version and before answering from it, so the first
client does not pay for TensorFlow's first call of each signature (graph optimization, kernel
set-up). `mmlm export` writes one record per signature; TF Serving and `mmlm serve` replay them.
"""

import os

from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from mmlm.backend import tf
from mmlm.serving.predict import RequestError
from mmlm.serving.proto_predict import parse_predict_proto, proto_from_array

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
# TF Serving refuses a warmup file with more records than this.
MAX_WARMUP_RECORDS = 1000


def warmup_path(saved_model_dir):
    return os.path.join(saved_model_dir, WARMUP_FILE)


def write_warmup_requests(saved_model_dir, requests):
    """Writes `requests` as the SavedModel's warmup records.

    Args:
        saved_model_dir: the SavedModel directory.
        requests: (signature name, {input name: NumPy array}) pairs, one record each.
    Returns:
        The path written.
    """
    if len(requests) > MAX_WARMUP_RECORDS:
        raise ValueError(f"{len(requests)} warmup requests, over the {MAX_WARMUP_RECORDS} allowed")
    path = warmup_path(saved_model_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for signature_name, inputs in requests:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(signature_name=signature_name)
            )
            for name, value in inputs.items():
                request.inputs[name].CopyFrom(proto_from_array(value))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(saved_model_dir):
    """The `PredictRequest`s of the SavedModel's warmup file ([] without one).

    Raises:
        ValueError: if the file is corrupt, has more than `MAX_WARMUP_RECORDS` records, or holds
            a record other than a predict log (this server only predicts).
    """
    path = warmup_path(saved_model_dir)
    if not os.path.isfile(path):
        return []
    requests = []
    try:
        for index, record in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
            if index >= MAX_WARMUP_RECORDS:
                raise ValueError(f"{path} holds more than {MAX_WARMUP_RECORDS} warmup records")
            log = prediction_log_pb2.PredictionLog.FromString(record)
            kind = log.WhichOneof("log_type")
            if kind != "predict_log":
                raise ValueError(
                    f"warmup record {index} of {path} is a {kind}; this server replays only "
                    "predict_log records"
                )
            requests.append(log.predict_log.request)
    except tf.errors.DataLossError as error:
        raise ValueError(f"corrupt warmup file {path}: {error.message}") from None
    return requests


def replay_warmup(model, iterations=1):
    """Runs every warmup record of `model` (a `ServedModel`) `iterations` times.

    Returns:
        The number of records.
    Raises:
        ValueError: naming the record that failed and why.
    """
    requests = read_warmup_requests(model.path)
    for index, proto in enumerate(requests):
        try:
            request = parse_predict_proto(proto, model.signatures)
            for _ in range(iterations):
                request.signature(request.inputs)
        except (RequestError, tf.errors.OpError, ValueError, TypeError) as error:
            message = error.message if isinstance(error, tf.errors.OpError) else str(error)
            raise ValueError(
                f"warmup record {index} (signature '{proto.model_spec.signature_name}') of "
                f"{warmup_path(model.path)} failed: {message}"
            ) from None
    return len(requests)
