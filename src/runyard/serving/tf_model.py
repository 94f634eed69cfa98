"""No-code serving of TensorFlow models: load a SavedModel or a Keras file, describe its
signatures, and turn TensorFlow-Serving REST request bodies into checked numpy inputs.

Imported by the endpoint server only (it imports TensorFlow); `model_format` is light.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
DEFAULT_SIGNATURE = "serving_default"


class BadRequest(ValueError):
    """The request cannot be served as sent: answered with HTTP 400 and this message."""


def model_format(path: Path) -> tuple[str, Path] | None:
    """("savedmodel" | "keras", the path to load) for a servable model file or folder, else None."""
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return "savedmodel", path
    if path.is_file() and path.suffix.lower() in KERAS_SUFFIXES:
        return "keras", path
    if (path / "MLmodel").is_file() and (path / "data").is_dir():
        return model_format(path / "data")  # an MLflow TensorFlow/Keras model: its files are in data/
    if path.is_dir():
        found = [p for p in path.iterdir() if p.is_dir() and (p / "saved_model.pb").is_file()]
        found += [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in KERAS_SUFFIXES]
        if len(found) == 1:
            return model_format(found[0])
    return None


def is_mlflow_tensorflow_model(path: Path) -> bool:
    """An MLflow model folder with the tensorflow flavor (mlflow.tensorflow.save_model /
    log_model, autolog): a TensorFlow model whatever framework it was registered with."""
    mlmodel = path / "MLmodel"
    if not mlmodel.is_file():
        return False
    import yaml

    try:
        flavors = (yaml.safe_load(mlmodel.read_text()) or {}).get("flavors") or {}
    except yaml.YAMLError:
        return False
    return "tensorflow" in flavors or "keras" in flavors


@dataclass
class TensorInfo:
    name: str
    dtype: Any  # numpy dtype (object for strings)
    tf_dtype: str  # "DT_FLOAT" ...
    shape: tuple  # None for unknown dimensions


@dataclass
class Signature:
    name: str
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]
    function: Any  # called with {input name: tf.Tensor}, returns {output name: tf.Tensor}

    @property
    def batchable(self) -> bool:
        """Every input has a leading batch dimension of unknown size: rows can be stacked."""
        return all(len(t.shape) >= 1 and t.shape[0] is None for t in self.inputs.values())

    def predict(self, inputs: dict) -> dict:
        import tensorflow as tf

        tensors = {k: tf.constant(v) for k, v in inputs.items()}
        try:
            result = self.function(**tensors)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
            raise BadRequest(f"The model rejected the input: {_first_line(exc)}") from None
        if not isinstance(result, dict):
            result = {next(iter(self.outputs)): result}
        return {k: v.numpy() for k, v in result.items()}


class LoadedModel:
    def __init__(self, name: str, version: int, path: Path):
        self.name, self.version = name, version
        found = model_format(path)
        if found is None:
            raise ValueError(
                f"{path} is neither a TensorFlow SavedModel folder (with saved_model.pb) nor a "
                f"Keras file ({', '.join(KERAS_SUFFIXES)}). Deploy it with an InferenceConfig "
                "and an entry script instead.")
        kind, load_path = found
        # The signatures hold weak references to the loaded object: keep it with them.
        self._loaded, self.signatures = (_load_savedmodel if kind == "savedmodel" else _load_keras)(load_path)
        if not self.signatures:
            raise ValueError(f"The SavedModel at {load_path} has no serving signatures. Export it "
                             "with model.export(path) or tf.saved_model.save(..., signatures=...).")

    def signature(self, name: str | None) -> Signature:
        if name in (None, ""):
            name = DEFAULT_SIGNATURE if DEFAULT_SIGNATURE in self.signatures else next(iter(self.signatures))
        found = self.signatures.get(name)
        if found is None:
            raise BadRequest(f"Serving signature {name!r} not found. Signatures of model "
                             f"{self.name!r}: {', '.join(self.signatures)}.")
        return found

    def metadata(self) -> dict:
        """The body of TensorFlow Serving's GET /v1/models/<name>/metadata."""
        return {"model_spec": {"name": self.name, "signature_name": "", "version": str(self.version)},
                "metadata": {"signature_def": {"signature_def": {
                    name: {"inputs": {k: _tensor_json(t) for k, t in sig.inputs.items()},
                           "outputs": {k: _tensor_json(t) for k, t in sig.outputs.items()},
                           "method_name": "tensorflow/serving/predict"}
                    for name, sig in self.signatures.items()}}}}


def _tensor_json(t: TensorInfo) -> dict:
    dims = [{"size": str(-1 if d is None else d), "name": ""} for d in t.shape]
    return {"dtype": t.tf_dtype, "tensor_shape": {"dim": dims, "unknown_rank": False}, "name": t.name}


def _info(name: str, spec) -> TensorInfo:
    import numpy as np
    from tensorflow.core.framework import types_pb2

    dtype = object if spec.dtype.name == "string" else np.dtype(spec.dtype.as_numpy_dtype)
    tf_dtype = types_pb2.DataType.Name(spec.dtype.as_datatype_enum)  # DT_FLOAT, as TF Serving says
    return TensorInfo(name=name, dtype=dtype, tf_dtype=tf_dtype,
                      shape=tuple(spec.shape.as_list()) if spec.shape.rank is not None else ())


def _load_savedmodel(path: Path) -> tuple[object, dict[str, Signature]]:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    signatures = {}
    for name, fn in loaded.signatures.items():
        _, kwargs = fn.structured_input_signature
        inputs = {k: _info(k, spec) for k, spec in kwargs.items()}
        outputs = {k: _info(k, spec) for k, spec in fn.structured_outputs.items()}
        signatures[name] = Signature(name, inputs, outputs, fn)
    return loaded, signatures


def _load_keras(path: Path) -> tuple[object, dict[str, Signature]]:
    import tensorflow as tf

    model = tf.keras.models.load_model(str(path), compile=False)
    specs = [tf.TensorSpec(t.shape, t.dtype, name=_tensor_name(t, i)) for i, t in enumerate(model.inputs)]
    names = [s.name for s in specs]
    output_names = list(getattr(model, "output_names", None) or [])
    if len(output_names) != len(model.outputs):
        output_names = [f"output_{i}" for i in range(len(model.outputs))]

    @tf.function(input_signature=specs)
    def serve(*args):
        result = model(list(args) if len(args) > 1 else args[0], training=False)
        result = result if isinstance(result, list | tuple) else [result]
        return dict(zip(output_names, result, strict=True))

    concrete = serve.get_concrete_function()
    inputs = {n: _info(n, s) for n, s in zip(names, specs, strict=True)}
    outputs = {k: _info(k, spec) for k, spec in concrete.structured_outputs.items()}

    def call(**tensors):
        return concrete(*[tensors[n] for n in names])

    return model, {DEFAULT_SIGNATURE: Signature(DEFAULT_SIGNATURE, inputs, outputs, call)}


def _tensor_name(tensor, index: int) -> str:
    name = getattr(tensor, "name", None) or f"input_{index}"
    return name.split(":")[0]


# -- TensorFlow Serving request bodies ---------------------------------------------------------
def parse_request(body: bytes, model: LoadedModel) -> tuple[Signature, dict, str, int]:
    """(signature, {input: array}, "row" | "columnar", rows) from a predict request body."""
    import json

    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise BadRequest('The request body must be a JSON object: {"instances": [...]} '
                         'or {"inputs": ...}.')
    unknown = set(request) - {"instances", "inputs", "signature_name"}
    if unknown:
        raise BadRequest(f"Unknown request fields: {', '.join(sorted(unknown))}. Use instances "
                         "(rows) or inputs (columns), and optionally signature_name.")
    if ("instances" in request) == ("inputs" in request):
        raise BadRequest('Give exactly one of "instances" (a list of rows) or "inputs" (columns).')
    signature = model.signature(request.get("signature_name"))
    names = list(signature.inputs)
    if "instances" in request:
        instances = request["instances"]
        if not isinstance(instances, list) or not instances:
            raise BadRequest('"instances" must be a non-empty list, one entry per example.')
        if all(isinstance(i, dict) for i in instances):
            columns = {}
            for name in names:
                if any(name not in i for i in instances):
                    raise BadRequest(f"Every instance needs input {name!r} (inputs: {', '.join(names)}).")
                columns[name] = [i[name] for i in instances]
            extra = {k for i in instances for k in i} - set(names)
            if extra:
                raise BadRequest(f"Unknown inputs {', '.join(sorted(extra))}; the signature's "
                                 f"inputs are {', '.join(names)}.")
        elif len(names) == 1:
            columns = {names[0]: instances}
        else:
            raise BadRequest(f"This signature has several inputs ({', '.join(names)}): each "
                             "instance must be an object with one entry per input.")
        fmt = "row"
    else:
        inputs = request["inputs"]
        if isinstance(inputs, dict) and (len(names) != 1 or set(inputs) == set(names)):
            if set(inputs) != set(names):
                raise BadRequest(f"inputs must have exactly the signature's inputs: {', '.join(names)}. "
                                 f"Received: {', '.join(sorted(inputs))}.")
            columns = dict(inputs)
        elif len(names) == 1:
            columns = {names[0]: inputs}
        else:
            raise BadRequest(f'"inputs" must be an object with the inputs {", ".join(names)}.')
        fmt = "columnar"
    arrays = {name: _to_array(name, value, signature.inputs[name]) for name, value in columns.items()}
    rows = {a.shape[0] for a in arrays.values() if a.ndim}
    if len(rows) > 1:
        raise BadRequest(f"The inputs have different numbers of rows: {sorted(rows)}.")
    return signature, arrays, fmt, rows.pop() if rows else 1


# The JSON value kinds (numpy dtype kinds) that may fill an input of each dtype kind.
_ACCEPTS = {"f": "biuf", "c": "biufc", "i": "biu", "u": "biu", "b": "b"}


def _to_array(name: str, value, info: TensorInfo):
    import numpy as np

    expected = info.tf_dtype.removeprefix("DT_").lower()
    try:
        raw = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"Input {name!r} must be a regular (not ragged) nested list of {expected} "
                         f"values: {_first_line(exc)}") from None
    if raw.size:
        kind = raw.dtype.kind
        ok = kind == "U" if info.dtype is object else kind in _ACCEPTS.get(np.dtype(info.dtype).kind, "")
        if not ok:
            got = {"U": "strings", "O": "mixed or out-of-range values", "f": "floats",
                   "b": "booleans"}.get(kind, "numbers")
            raise BadRequest(f"Input {name!r} must hold {expected} values; the request gave {got}.")
    if info.dtype is object:
        array = np.array([s.encode() for s in raw.flat], dtype=object).reshape(raw.shape)
    else:
        array = raw.astype(info.dtype)
    want = info.shape
    if want and (array.ndim != len(want) or any(w is not None and w != g for w, g in zip(want, array.shape, strict=True))):
        expect = "[" + ", ".join("-1" if d is None else str(d) for d in want) + "]"
        raise BadRequest(f"Input {name!r} must have shape {expect} (-1: any size); the request "
                         f"gave shape {list(array.shape)}.")
    return array


def format_response(outputs: dict, fmt: str) -> dict:
    def plain(array):
        return [v.decode(errors="replace") if isinstance(v, bytes) else v
                for v in array.tolist()] if array.dtype == object else array.tolist()

    if fmt == "columnar":
        if len(outputs) == 1:
            return {"outputs": plain(next(iter(outputs.values())))}
        return {"outputs": {k: plain(v) for k, v in outputs.items()}}
    if len(outputs) == 1:
        return {"predictions": plain(next(iter(outputs.values())))}
    columns = {k: plain(v) for k, v in outputs.items()}
    rows = len(next(iter(columns.values())))
    return {"predictions": [{k: v[i] for k, v in columns.items()} for i in range(rows)]}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
