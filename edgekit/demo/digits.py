"""scikit-learn's digits: 1,797 real 8x8 handwritten digits, shipped inside the package (no download)."""

from __future__ import annotations

import numpy as np

from edgekit.training import SplitData

DigitsData = SplitData
"""The digits split is a :class:`edgekit.training.SplitData` (the old name, kept for existing code)."""


def _upsample(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of (N, 8, 8) images to (N, size, size)."""
    if size == images.shape[-1]:
        return images
    from scipy.ndimage import zoom

    factor = size / images.shape[-1]
    return np.clip(zoom(images, (1, factor, factor), order=1), 0.0, 1.0).astype(np.float32)


def load_digits_split(
    size: int = 8, channels: int = 1, test_fraction: float = 0.25, seed: int = 0
) -> SplitData:
    """Load the digits with a fixed stratified split.

    ``size`` upsamples the 8x8 images (e.g. 32 for torchvision architectures); ``channels=3``
    repeats the grey channel for RGB architectures.

    >>> d = load_digits_split()
    >>> d.x_train.shape[1:], d.x_test.shape[0] > 400
    ((1, 8, 8), True)
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )

    def prep(x: np.ndarray) -> np.ndarray:
        x = _upsample(x, size)[:, None, :, :]
        return np.ascontiguousarray(np.repeat(x, channels, axis=1), dtype=np.float32)

    return SplitData(prep(x_tr), y_tr, prep(x_te), y_te)
