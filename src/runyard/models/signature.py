"""The input and output tensors of a registered TensorFlow model, read without TensorFlow (the
process that registers a model rarely has it), in MLflow's tensor-schema form.

A SavedModel's `saved_model.pb` is read with a minimal protobuf wire-format reader that follows
only the fields on the path SavedModel.meta_graphs -> MetaGraphDef.signature_def ->
SignatureDef.inputs/outputs -> TensorInfo (name, dtype, shape); everything else (the graph, often
most of the file) is skipped by length. A `.keras` file is a zip whose config.json names the
model's input layers. Anything unreadable gives None: a model without a schema, never a failed
registration.
"""

from __future__ import annotations

import json
import mmap
import zipfile
from pathlib import Path

SERVING_DEFAULT = "serving_default"

# tensorflow/core/framework/types.proto DataType -> numpy's name, as MLflow's TensorSpec writes it
_DTYPES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "object",
           9: "int64", 10: "bool", 17: "uint16", 19: "float16", 22: "uint32", 23: "uint64"}


def _varint(buf, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("a varint longer than 10 bytes")


def _fields(buf) -> list[tuple[int, object]]:
    """(field number, value) of one message: ints for varints, memoryviews for length-delimited."""
    found, pos, end = [], 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > end:
                raise ValueError("a field runs past the end of its message")
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 1:
            value, pos = None, pos + 8
        elif wire == 5:
            value, pos = None, pos + 4
        else:
            raise ValueError(f"wire type {wire} is not read here")
        found.append((number, value))
    return found


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _map(buf, number: int) -> dict[str, memoryview]:
    """A protobuf map<string, message> field of `buf`: key -> the value's bytes."""
    entries = {}
    for field, entry in _fields(buf):
        if field == number:
            parts = dict(_fields(entry))
            entries[bytes(parts.get(1, b"")).decode()] = parts.get(2, memoryview(b""))
    return entries


def _tensor(name: str, info) -> dict:
    parts = _fields(info)
    dtype = next((v for f, v in parts if f == 2), 0)
    shape = next((v for f, v in parts if f == 3), None)
    spec: dict = {"dtype": _DTYPES.get(dtype, "object")}
    if shape is not None:
        shape_fields = _fields(shape)
        if not any(f == 3 and v for f, v in shape_fields):  # unknown_rank: MLflow needs a shape
            spec["shape"] = [_signed(dict(_fields(dim)).get(1, 0)) for f, dim in shape_fields if f == 2]
    spec.setdefault("shape", [-1])
    return {"type": "tensor", "tensor-spec": spec, "name": name}


def saved_model_signature(folder: Path) -> dict | None:
    """{"name", "inputs", "outputs"} of the SavedModel's serving signature (`serving_default`, else
    the first one), or None."""
    path = folder / "saved_model.pb"
    try:
        with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            view = memoryview(data)
            try:
                return _first_signature(view)
            finally:
                view.release()
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        return None


def _first_signature(view) -> dict | None:
    for field, meta_graph in _fields(view):
        if field != 2:
            continue
        signatures = {k: v for k, v in _map(meta_graph, 5).items() if not k.startswith("__")}
        if not signatures:
            continue
        name = SERVING_DEFAULT if SERVING_DEFAULT in signatures else sorted(signatures)[0]
        body = signatures[name]
        return {"name": name,
                "inputs": [_tensor(k, v) for k, v in sorted(_map(body, 1).items())],
                "outputs": [_tensor(k, v) for k, v in sorted(_map(body, 2).items())]}
    return None


def keras_signature(path: Path) -> dict | None:
    """The input layers of a `.keras` file (its outputs are known only to a built model)."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    inputs = []
    for layer in (config.get("config") or {}).get("layers") or []:
        if layer.get("class_name") != "InputLayer":
            continue
        settings = layer.get("config") or {}
        shape = settings.get("batch_shape") or settings.get("batch_input_shape") or [None]
        dtype = settings.get("dtype") or "float32"
        if isinstance(dtype, dict):  # Keras 3 writes a DTypePolicy
            dtype = (dtype.get("config") or {}).get("name", "float32")
        inputs.append({"type": "tensor", "name": settings.get("name") or layer.get("name") or "input",
                       "tensor-spec": {"dtype": "object" if dtype == "string" else dtype,
                                       "shape": [-1 if d is None else d for d in shape]}})
    return {"name": SERVING_DEFAULT, "inputs": inputs, "outputs": []} if inputs else None


def model_signature(asset: Path) -> dict | None:
    """The schema of a registered file or folder when it is a TensorFlow model runyard can serve."""
    from runyard.serving.tf_model import model_format

    found = model_format(asset)
    if found is None:
        return None
    kind, path = found
    return saved_model_signature(path) if kind == "savedmodel" else keras_signature(path)
