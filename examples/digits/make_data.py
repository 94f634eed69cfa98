"""Write real handwritten digits as MNIST-format IDX .gz files, with no internet.

The digits are scikit-learn's bundled `load_digits` set (1,797 8x8 scans of handwritten
digits), upscaled to MNIST's 28x28 and 0-255 range. The files have MNIST's names and format,
so scripts written for MNIST read them unchanged:

    python make_data.py data/        # writes data/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
"""

from __future__ import annotations

import gzip
import struct
import sys
from pathlib import Path

import numpy as np


def upscale(images_8x8: np.ndarray) -> np.ndarray:
    """8x8 (0-16) -> 28x28 (0-255): bilinear zoom into the central 20x20, as MNIST centres its
    digits in a 20x20 box inside 28x28."""
    from scipy.ndimage import zoom

    out = np.zeros((len(images_8x8), 28, 28), dtype=np.uint8)
    for i, image in enumerate(images_8x8):
        big = zoom(image.astype(np.float32) / 16.0, 2.5, order=1)
        out[i, 4:24, 4:24] = np.clip(big * 255.0, 0, 255).astype(np.uint8)
    return out


def write_idx_images(path: Path, images: np.ndarray) -> None:
    with gzip.open(path, "wb") as fh:
        fh.write(struct.pack(">IIII", 2051, len(images), 28, 28))
        fh.write(images.astype(np.uint8).tobytes())


def write_idx_labels(path: Path, labels: np.ndarray) -> None:
    with gzip.open(path, "wb") as fh:
        fh.write(struct.pack(">II", 2049, len(labels)))
        fh.write(labels.astype(np.uint8).tobytes())


def make(folder: Path, test_fraction: float = 0.2, seed: int = 0) -> dict[str, int]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.target))
    images, labels = upscale(digits.images[order]), digits.target[order]
    n_test = int(len(labels) * test_fraction)
    folder.mkdir(parents=True, exist_ok=True)
    write_idx_images(folder / "train-images-idx3-ubyte.gz", images[n_test:])
    write_idx_labels(folder / "train-labels-idx1-ubyte.gz", labels[n_test:])
    write_idx_images(folder / "t10k-images-idx3-ubyte.gz", images[:n_test])
    write_idx_labels(folder / "t10k-labels-idx1-ubyte.gz", labels[:n_test])
    return {"train": len(labels) - n_test, "test": n_test}


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "data")
    counts = make(target)
    print(f"Wrote {counts['train']} training and {counts['test']} test digits to {target}/")
