"""Activation calibrators as torchao PT2E observers."""

from __future__ import annotations

from typing import Any

import torch
from torchao.quantization.pt2e import HistogramObserver, MinMaxObserver, MovingAverageMinMaxObserver


class PercentileObserver(MinMaxObserver):
    """Min/max at the given percentiles of the values seen (a bounded random sample per batch)."""

    def __init__(self, percentile: float = 99.99, max_samples: int = 1 << 20, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.percentile = percentile
        self.max_samples = max_samples
        self._samples: list[torch.Tensor] = []
        self._count = 0

    def forward(self, x_orig: torch.Tensor) -> torch.Tensor:
        if x_orig.numel() == 0:
            return x_orig
        x = x_orig.detach().float().reshape(-1)
        budget = max(self.max_samples // 16, 1)
        if x.numel() > budget:
            x = x[
                torch.randint(0, x.numel(), (budget,), generator=torch.Generator().manual_seed(self._count))
            ]
        self._samples.append(x)
        self._count += 1
        values = torch.cat(self._samples)[-self.max_samples :]
        self._samples = [values]
        q = torch.tensor([1.0 - self.percentile / 100.0, self.percentile / 100.0])
        low, high = torch.quantile(values, q)
        self.min_val.resize_(low.shape).copy_(low)
        self.max_val.resize_(high.shape).copy_(high)
        return x_orig


class MeanMinMaxObserver(MinMaxObserver):
    """The mean over calibration samples of each sample's min and max (dimension 0 is the batch).

    One outlier pixel in one image widens a plain min-max range for every image; the mean of per-sample
    ranges follows the typical image.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.register_buffer("_sum_min", torch.zeros(()))
        self.register_buffer("_sum_max", torch.zeros(()))
        self.register_buffer("_samples", torch.zeros(()))

    def forward(self, x_orig: torch.Tensor) -> torch.Tensor:
        if x_orig.numel() == 0:
            return x_orig
        x = x_orig.detach().float()
        x = x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(1, -1)
        self._sum_min += x.amin(1).sum().to(self._sum_min.device)
        self._sum_max += x.amax(1).sum().to(self._sum_max.device)
        self._samples += x.shape[0]
        low, high = self._sum_min / self._samples, self._sum_max / self._samples
        self.min_val.resize_(low.shape).copy_(low)
        self.max_val.resize_(high.shape).copy_(high)
        return x_orig


def activation_observer(calibrator: str, percentile: float, spec: dict[str, Any] | None = None) -> Any:
    """Observer constructor (``with_args``) for an activation calibrator name; ``spec`` holds the
    ``dtype`` / ``quant_min`` / ``quant_max`` / ``qscheme`` (int8 asymmetric when None)."""
    common = spec or {
        "dtype": torch.int8,
        "quant_min": -128,
        "quant_max": 127,
        "qscheme": torch.per_tensor_affine,
    }
    if calibrator == "minmax":
        return MinMaxObserver.with_args(**common)
    if calibrator == "mean_minmax":
        return MeanMinMaxObserver.with_args(**common)
    if calibrator == "moving_average":
        return MovingAverageMinMaxObserver.with_args(averaging_constant=0.01, **common)
    if calibrator == "percentile":
        return PercentileObserver.with_args(percentile=percentile, **common)
    return HistogramObserver.with_args(**common)  # "mse": L2-optimal range search over a histogram
