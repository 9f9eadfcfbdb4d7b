"""Real photographs shipped inside scikit-image and scikit-learn, cut into many crops (no download).

Evaluation and calibration sets are crops of the same photos drawn with different seeds: they share the
photos' statistics (as a user's calibration images share their deployment data's) but no crop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# skimage.data photographs (grey ones are repeated to RGB); all load offline
PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "cat",
    "camera",
    "coins",
    "clock",
    "moon",
    "brick",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "colorwheel",
)


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return np.ascontiguousarray(image[..., :3]).astype(np.float32) / 255.0


def photos() -> list[np.ndarray]:
    """The photographs as float RGB arrays in [0, 1], shape (H, W, 3)."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    images = [_rgb(getattr(skimage.data, name)()) for name in PHOTOS]
    return images + [_rgb(img) for img in load_sample_images().images]


def _normalise(batch: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    m = np.asarray(mean, np.float32).reshape(1, 3, 1, 1)
    s = np.asarray(std, np.float32).reshape(1, 3, 1, 1)
    return ((batch - m) / s).astype(np.float32)


def photo_crops(
    size: int,
    count: int,
    *,
    seed: int,
    mean: Sequence[float] = (0.0, 0.0, 0.0),
    std: Sequence[float] = (1.0, 1.0, 1.0),
) -> np.ndarray:
    """``count`` random square crops (10-100% of the short side, random flip) resized to ``size``, NCHW.

    >>> photo_crops(32, 4, seed=0).shape
    (4, 3, 32, 32)
    """
    from skimage.transform import resize

    rng = np.random.default_rng(seed)
    images = photos()
    out = np.empty((count, size, size, 3), np.float32)
    for i in range(count):
        image = images[rng.integers(len(images))]
        short = min(image.shape[:2])
        side = max(int(short * np.sqrt(rng.uniform(0.1, 1.0))), 8)
        top = rng.integers(image.shape[0] - side + 1)
        left = rng.integers(image.shape[1] - side + 1)
        crop = image[top : top + side, left : left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out[i] = resize(crop, (size, size), anti_aliasing=side > size, preserve_range=True)
    return _normalise(out.transpose(0, 3, 1, 2), mean, std)


def face_crops(
    size: int,
    *,
    seed: int,
    mean: Sequence[float] = (0.0, 0.0, 0.0),
    std: Sequence[float] = (1.0, 1.0, 1.0),
) -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's ``lfw_subset`` (100 faces, 100 non-faces, 25x25 grey) as NCHW RGB at ``size``, with
    labels (1 = face); ``seed`` picks a random flip and a 0-2 pixel shift per image.

    >>> x, y = face_crops(24, seed=0)  # doctest: +SKIP
    >>> x.shape, int(y.sum())          # doctest: +SKIP
    ((200, 3, 24, 24), 100)
    """
    import skimage.data
    from skimage.transform import resize

    rng = np.random.default_rng(seed)
    faces = skimage.data.lfw_subset().astype(np.float32)
    if faces.max() > 1.0:
        faces /= 255.0
    out = np.empty((len(faces), size, size, 3), np.float32)
    for i, face in enumerate(faces):
        dy, dx = rng.integers(0, 3, size=2)
        crop = face[dy : dy + 23, dx : dx + 23]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out[i] = np.repeat(resize(crop, (size, size), preserve_range=True)[..., None], 3, axis=-1)
    labels = np.r_[np.ones(100, np.int64), np.zeros(len(faces) - 100, np.int64)]
    return _normalise(out.transpose(0, 3, 1, 2), mean, std), labels
