"""The served SavedModels and TF Serving's JSON: finding the models, describing their
signatures, turning a request's `instances` / `inputs` into tensors and the answers back.

Only TensorFlow and TF Text run here (no kerasrnn, no task code, no JAX). Every error a client
can cause is a `RequestError` whose message says what was wrong and what was received.
"""

import base64
import os

import tensorflow as tf
import tensorflow_text  # noqa: F401  registers the ops a WordPiece model's graph holds
from tensorflow.core.framework.types_pb2 import DataType  # DT_FLOAT, DT_STRING, ...

KINDS = {  # a model's task, told by its signatures (see tasks/export.py)
    "language_model": "generate",
    "tagger": "tag",
    "classifier": "serve",
    "translator": "translate",
}


class RequestError(ValueError):
    """A bad request: answered with `status` (400 unless said) and `{"error": message}`."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


class Limits:
    """What one request may ask for (the server's options of the same names)."""

    def __init__(self, max_instances=64, max_text_length=2000, max_body_bytes=1 << 20):
        for name, value in (("max_instances", max_instances),
                            ("max_text_length", max_text_length),
                            ("max_body_bytes", max_body_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer. Received: "
                                 f"{name}={value!r}")
        self.max_instances = max_instances
        self.max_text_length = max_text_length
        self.max_body_bytes = max_body_bytes


def find_models(folder):
    """{name: (version, path)} of the SavedModels in `folder`: each subfolder holding a
    `saved_model.pb` (version 1), or numbered version subfolders as TF Serving lays them out
    (the highest is served), or `folder` itself."""
    if not os.path.isdir(folder):
        raise ValueError(f"`models` must be a folder of exported SavedModels. Received: "
                         f"models={folder!r} (not a folder)")
    if os.path.isfile(os.path.join(folder, "saved_model.pb")):
        return {os.path.basename(os.path.abspath(folder)): (1, folder)}
    found = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            found[name] = (1, path)
        elif os.path.isdir(path):
            versions = [int(v) for v in os.listdir(path) if v.isdigit()
                        and os.path.isfile(os.path.join(path, v, "saved_model.pb"))]
            if versions:
                found[name] = (max(versions), os.path.join(path, str(max(versions))))
    if not found:
        raise ValueError(f"no SavedModel in {folder!r}: export one with `python -m "
                         f"tasks.<task> export --out {os.path.join(folder, '<name>')}`")
    return found


class ServedModel:
    """One loaded SavedModel: its signatures that take text, and `predict(body)`."""

    def __init__(self, name, path, version=1):
        self.name, self.path, self.version = name, path, version
        self.module = tf.saved_model.load(path)
        # The numeric endpoints (ids in, ids out) stay internal: a client sends text.
        self.signatures = {
            key: fn for key, fn in self.module.signatures.items()
            if any(spec.dtype == tf.string for spec in _inputs(fn).values())}
        names = set(self.signatures)
        self.kind = next((k for k, sig in KINDS.items() if sig in names), None)

    def describe(self):
        return {"name": self.name, "version": str(self.version), "kind": self.kind,
                "signatures": sorted(self.signatures)}

    def metadata(self):
        """TF Serving's `GET /v1/models/<name>/metadata` answer."""
        def tensors(specs):
            return {key: {"dtype": DataType.Name(spec.dtype.as_datatype_enum), "name": key,
                          "tensor_shape": {"dim": [{"size": str(-1 if d is None else d),
                                                    "name": ""} for d in spec.shape.as_list()],
                                           "unknown_rank": False}}
                    for key, spec in specs.items()}

        defs = {key: {"inputs": tensors(_inputs(fn)), "outputs": tensors(fn.structured_outputs),
                      "method_name": "tensorflow/serving/predict"}
                for key, fn in self.signatures.items()}
        return {"model_spec": {"name": self.name, "signature_name": "",
                               "version": str(self.version)},
                "metadata": {"signature_def": {"signature_def": defs}}}

    def predict(self, body, limits):
        """A TF Serving predict request (parsed JSON) -> its answer (JSON-ready)."""
        if not isinstance(body, dict):
            raise RequestError(f"the request must be a JSON object with \"instances\" or "
                               f"\"inputs\". Received: {_kind(body)}")
        key = body.get("signature_name") or "serving_default"
        if key not in self.signatures:
            raise RequestError(f"model {self.name!r} has no signature {key!r}; it has "
                               f"{sorted(self.signatures)}")
        fn = self.signatures[key]
        specs = _inputs(fn)
        if ("instances" in body) == ("inputs" in body):
            raise RequestError("the request must have exactly one of \"instances\" (rows) and "
                               f"\"inputs\" (columns). Received keys: {sorted(body)}")
        row_format = "instances" in body
        values = (_columns(body["instances"], specs) if row_format
                  else _named(body["inputs"], specs, "\"inputs\""))
        tensors = {name: _tensor(name, values[name], spec, limits)
                   for name, spec in specs.items()}
        try:
            outputs = fn(**tensors)
        except (tf.errors.InvalidArgumentError, ValueError) as error:
            raise RequestError(f"model {self.name!r}, signature {key!r}: "
                               f"{_reason(error)}") from None
        outputs = {name: _json(value.numpy()) for name, value in outputs.items()}
        if not row_format:
            return {"outputs": _single(outputs)}
        rows = len(next(iter(outputs.values()))) if outputs else 0
        return {"predictions": [_single({k: v[i] for k, v in outputs.items()})
                                for i in range(rows)]}


def _reason(error):
    """The line of a TensorFlow error that says why: an assertion's message (the exports
    assert their limits), else the first line."""
    lines = getattr(error, "message", str(error)).strip().splitlines()
    for line in lines:
        if line.startswith("assertion failed: ["):
            return line[len("assertion failed: ["):].split("] [")[0].rstrip("]")
    return lines[0] if lines else type(error).__name__


def _inputs(fn):
    return fn.structured_input_signature[1]


def _kind(value):
    return f"a JSON {type(value).__name__.replace('dict', 'object').replace('list', 'array')}"


def _single(named):
    """TF Serving answers with the bare value when there is only one."""
    return next(iter(named.values())) if len(named) == 1 else named


def _named(value, specs, where):
    """A value (a model with one input) or an object of named values -> {input name: value}."""
    if isinstance(value, dict) and set(value) != {"b64"}:  # ({"b64": ...} is one string)
        if set(value) != set(specs):
            raise RequestError(f"{where} must name the inputs {sorted(specs)}. Received: "
                               f"{sorted(value)}")
        return value
    if len(specs) == 1:
        return {next(iter(specs)): value}
    raise RequestError(f"{where} must be an object with the inputs {sorted(specs)}. "
                       f"Received: {_kind(value)}")


def _columns(instances, specs):
    """Row format -> columns. Every input needs a batch dimension for it."""
    if not isinstance(instances, list):
        raise RequestError(f"\"instances\" must be an array (one entry per example). "
                           f"Received: {_kind(instances)}")
    scalars = [name for name, spec in specs.items() if spec.shape.rank == 0]
    if scalars:
        raise RequestError(f"the inputs {scalars} are not batched: send them as \"inputs\" "
                           f"(the columnar format), e.g. {{\"inputs\": {{...}}}}")
    rows = [_named(row, specs, "each instance") for row in instances]
    return {name: [row[name] for row in rows] for name in specs}


def _tensor(name, value, spec, limits):
    """A JSON value -> a tensor of `spec`'s type and rank, within `limits`."""
    rank = spec.shape.rank
    if rank and (not isinstance(value, list) or len(value) > limits.max_instances):
        got = f"{len(value)} entries" if isinstance(value, list) else _kind(value)
        raise RequestError(f"input {name!r} must be an array of at most max_instances="
                           f"{limits.max_instances} entries. Received: {got}", status=(
                               413 if isinstance(value, list) else 400))
    flat, shape = [], []
    _flatten(name, value, rank, flat, shape, 0)
    shape += [0] * (rank - len(shape))  # an empty batch
    if spec.dtype == tf.string:
        for i, item in enumerate(flat):
            if isinstance(item, dict) and set(item) == {"b64"} and isinstance(item["b64"], str):
                try:
                    flat[i] = item = base64.b64decode(item["b64"], validate=True).decode()
                except ValueError:
                    raise RequestError(f"input {name!r}: an invalid {{\"b64\": ...}} "
                                       "value") from None
            if not isinstance(item, str):
                raise RequestError(f"input {name!r} takes strings. Received: {_kind(item)}")
            if len(item) > limits.max_text_length:
                raise RequestError(f"input {name!r}: a text of {len(item)} characters is "
                                   f"longer than max_text_length={limits.max_text_length}",
                                   status=413)
    else:
        numbers = (int,) if spec.dtype.is_integer else (int, float)
        for item in flat:
            if isinstance(item, bool) or not isinstance(item, numbers):
                raise RequestError(f"input {name!r} takes {spec.dtype.name} numbers. "
                                   f"Received: {_kind(item)} ({item!r:.40})")
    try:
        return tf.reshape(tf.constant(flat, spec.dtype), shape)
    except (ValueError, TypeError, tf.errors.InvalidArgumentError) as error:
        raise RequestError(f"input {name!r}: {error}") from None


def _flatten(name, value, rank, flat, shape, depth):
    """Checks that `value` is a rectangular nest of `rank` arrays; fills `flat` and `shape`."""
    if depth == rank:
        if isinstance(value, list):
            raise RequestError(f"input {name!r} has {rank} dimension(s); received an array "
                               f"nested {depth + 1} deep")
        flat.append(value)
        return
    if not isinstance(value, list):
        raise RequestError(f"input {name!r} has {rank} dimension(s); received "
                           f"{_kind(value)} at depth {depth}")
    if len(shape) == depth:
        shape.append(len(value))
    elif shape[depth] != len(value):
        raise RequestError(f"input {name!r}: rows of different lengths ({shape[depth]} and "
                           f"{len(value)}) at depth {depth}: pad them")
    for item in value:
        _flatten(name, item, rank, flat, shape, depth + 1)


def _json(array):
    """NumPy -> JSON values; strings decoded as UTF-8."""
    if array.dtype.kind in "SO":
        decode = lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes) else b  # noqa: E731
        if array.ndim == 0:
            return decode(array.item())
        return [_json(a) for a in array] if array.ndim > 1 else [decode(b) for b in array]
    return array.tolist()
