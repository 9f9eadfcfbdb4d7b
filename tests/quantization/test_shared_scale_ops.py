"""YOLO's int8 layout without requantize ops: split pieces, transposes, nearest upsampling and a softmax
read through a transpose keep the scale TFLite's kernels write, so the file has no QUANTIZE between them.

Each module is one pattern of YOLOv8 / YOLO11 (C2f / C3k2 chunk, C2PSA attention, the neck's upsample) or
SSDLite (per-level head outputs concatenated), or ShuffleNetV2's channel shuffle;
before the quantizer annotated them, each left a requantize (a QUANTIZE int8 -> int8) in the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import edgekit as ek


class Chunk(torch.nn.Module):
    """C2f / C3k2: conv + SiLU, chunk in two, a residual conv block on the second half, concatenation of
    all three."""

    def __init__(self) -> None:
        super().__init__()
        self.cv1 = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.inner = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.cv2 = torch.nn.Conv2d(24, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = torch.nn.functional.silu(self.cv1(x)).chunk(2, 1)
        return self.cv2(torch.cat([a, b, b + torch.nn.functional.silu(self.inner(b))], 1))


class Attention(torch.nn.Module):
    """YOLO11's C2PSA attention: qkv conv, split into q / k / v, softmax(q^T k) read transposed,
    positional depthwise conv on v."""

    def __init__(self, dim: int = 16, key: int = 4) -> None:
        super().__init__()
        self.key = key
        self.qkv = torch.nn.Conv2d(dim, 2 * key + dim, 1)
        self.pe = torch.nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.proj = torch.nn.Conv2d(dim, dim, 1)
        self.stem = torch.nn.Conv2d(3, dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        b, c, h, w = x.shape
        q, k, v = self.qkv(x).view(b, 1, -1, h * w).split([self.key, self.key, c], dim=2)
        attn = ((q.transpose(-2, -1) @ k) * self.key**-0.5).softmax(dim=-1)
        y = (v @ attn.transpose(-2, -1)).view(b, c, h, w) + self.pe(v.reshape(b, c, h, w))
        return self.proj(y)


class Upsample(torch.nn.Module):
    """The neck: nearest 2x upsampling of a deep map concatenated with a shallow one."""

    def __init__(self) -> None:
        super().__init__()
        self.shallow = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.deep = torch.nn.Conv2d(8, 8, 3, 2, 1)
        self.up = torch.nn.Upsample(scale_factor=2, mode="nearest")
        self.out = torch.nn.Conv2d(16, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.shallow(x)
        return self.out(torch.cat([s, self.up(self.deep(s))], 1))


class LevelConcat(torch.nn.Module):
    """SSD's head: one conv per feature level, each output permuted to NHWC, flattened to rows and
    concatenated over the levels."""

    def __init__(self) -> None:
        super().__init__()
        self.down = torch.nn.Conv2d(3, 8, 3, 2, 1)
        self.heads = torch.nn.ModuleList(torch.nn.Conv2d(c, 4, 1) for c in (3, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        levels = [x, self.down(x)]
        rows = [h(f).permute(0, 2, 3, 1).reshape(1, -1, 4) for h, f in zip(self.heads, levels, strict=True)]
        return torch.cat(rows, 1)


class Subsample(torch.nn.Module):
    """LeViT's attention subsampling: tokens viewed as a map, every second row and column kept."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.proj = torch.nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2)  # (B, 64, 8)
        grid = tokens.reshape(x.shape[0], 8, 8, 8)[:, ::2, ::2]
        return self.proj(grid.reshape(x.shape[0], -1, 8))


@pytest.mark.parametrize(
    ("model", "op"),
    [
        (Chunk(), "SPLIT"),
        (Attention(), "SPLIT_V"),
        (Upsample(), "RESIZE_NEAREST_NEIGHBOR"),
        (LevelConcat(), "CONCATENATION"),
        (Subsample(), "STRIDED_SLICE"),
    ],
)
def test_pattern_has_no_requantize(model: torch.nn.Module, op: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    calibration = [torch.rand(4, 3, 8, 8) for _ in range(2)]
    quantized = ek.quantize(model.eval(), torch.rand(1, 3, 8, 8), calibrate=calibration).model
    result = ek.export(
        quantized, torch.rand(1, 3, 8, 8), tmp_path / "m.tflite", ek.ExportConfig(verify=False)
    )
    assert result.ops[op] >= 1, result.ops
    assert result.ops.get("QUANTIZE", 0) == 0 and result.ops.get("DEQUANTIZE", 0) == 0, result.notes
    rng = np.random.default_rng(1)
    inputs = [rng.random((1, 3, 8, 8), dtype=np.float32) for _ in range(4)]
    assert ek.compare(quantized, result.path, inputs).cosine_min >= 0.99


def test_channel_shuffle_has_no_requantize(tmp_path: Path) -> None:
    """ShuffleNetV2's blocks: concatenated branches, channel shuffle (view -> transpose -> contiguous ->
    view), chunk; the ``contiguous`` was unannotated, and the chunk's scale (widened by the branch
    concatenated after it) differed from the transpose's: a requantize after every shuffle."""
    from torchvision.models.shufflenetv2 import InvertedResidual

    torch.manual_seed(0)
    stem = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU())
    model = torch.nn.Sequential(stem, InvertedResidual(16, 32, 2), InvertedResidual(32, 32, 1)).eval()
    calibration = [torch.randn(4, 3, 16, 16) for _ in range(2)]
    quantized = ek.quantize(model, torch.randn(1, 3, 16, 16), calibrate=calibration).model
    result = ek.export(
        quantized, torch.randn(1, 3, 16, 16), tmp_path / "m.tflite", ek.ExportConfig(verify=False)
    )
    assert result.ops["TRANSPOSE"] >= 2, result.ops
    assert result.ops.get("QUANTIZE", 0) == 0 and result.ops.get("DEQUANTIZE", 0) == 0, result.ops
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((1, 3, 16, 16), dtype=np.float32) for _ in range(4)]
    assert ek.compare(quantized, result.path, inputs).cosine_min >= 0.99


class ClassToken(torch.nn.Module):
    """ViT / DeiT: the class token, expanded after the patch embedding, concatenated in front of the
    patches. Writing the patch embedding at the concatenation's scale pointed at an observer torchao had
    not created yet (``AssertionError: please make sure only refer to edge or node that has observer``)."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = torch.nn.Conv2d(3, 16, 4, 4)
        self.cls = torch.nn.Parameter(torch.randn(1, 1, 16))
        self.head = torch.nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = self.patch(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(x.shape[0], -1, -1), patches], 1)
        return self.head(tokens)


def test_class_token_concat_quantizes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = ClassToken().eval()
    calibration = [torch.randn(4, 3, 8, 8) for _ in range(2)]
    quantized = ek.quantize(model, torch.randn(1, 3, 8, 8), calibrate=calibration).model
    result = ek.export(
        quantized, torch.randn(1, 3, 8, 8), tmp_path / "m.tflite", ek.ExportConfig(verify=False)
    )
    assert result.ops.get("DEQUANTIZE", 0) == 0, result.notes
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((1, 3, 8, 8), dtype=np.float32) for _ in range(4)]
    assert ek.compare(quantized, result.path, inputs).cosine_min >= 0.99
