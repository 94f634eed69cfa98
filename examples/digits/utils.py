"""MNIST IDX readers, as in the Azure ML sample's utils.py."""

import gzip
import struct

import numpy as np


def load_data(filename, label=False):
    """Read an IDX .gz file: uint8 images shaped (n, 784), or labels shaped (n, 1)."""
    with gzip.open(filename) as gz:
        gz.read(4)
        n_items = struct.unpack(">I", gz.read(4))
        if not label:
            n_rows = struct.unpack(">I", gz.read(4))[0]
            n_cols = struct.unpack(">I", gz.read(4))[0]
            res = np.frombuffer(gz.read(n_items[0] * n_rows * n_cols), dtype=np.uint8)
            res = res.reshape(n_items[0], n_rows * n_cols)
        else:
            res = np.frombuffer(gz.read(n_items[0]), dtype=np.uint8)
            res = res.reshape(n_items[0], 1)
    return res


def one_hot_encode(array, num_of_classes):
    return np.eye(num_of_classes)[array.reshape(-1)]
