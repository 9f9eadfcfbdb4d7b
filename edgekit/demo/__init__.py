"""Built-in demo: scikit-learn's bundled digits (real, offline) and small reference architectures.

Used by the README's main job, the tests and the benchmarks. Nothing here downloads anything.
"""

from edgekit.demo.digits import DigitsData, load_digits_split
from edgekit.demo.models import DigitsCNN, DigitsResNet
from edgekit.demo.train import accuracy, batches, train

__all__ = ["DigitsCNN", "DigitsData", "DigitsResNet", "accuracy", "batches", "load_digits_split", "train"]
