"""Unstructured sparsity: per-layer report, permanence, and the compressed-size effect."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

import edgekit as ek
from edgekit.sparsity import SparsityError, compressed_size, sparsity_report


@pytest.mark.parametrize("scope", ["global", "local"])
def test_sparsity_is_reached_and_permanent(scope: str) -> None:
    model = torchvision.models.resnet18(num_classes=10)
    ek.sparsify(model, 0.6, scope=scope)
    report = model.edgekit_sparsity
    total = sum(r.total for r in report)
    assert abs(sum(r.zeros for r in report) / total - 0.6) < 0.01
    if scope == "local":
        assert all(abs(r.sparsity - 0.6) < 0.01 for r in report)
    assert not any(n.endswith("weight_orig") for n, _ in model.named_parameters()), "masks removed"
    assert sparsity_report(model) == report


def test_sparse_file_compresses_smaller(tmp_path: Path) -> None:
    from edgekit.demo import DigitsCNN

    torch.manual_seed(0)
    dense = DigitsCNN().eval()
    x = torch.rand(1, 1, 8, 8)
    a = ek.export(dense, x, tmp_path / "dense.onnx", verify=False).path
    b = ek.export(ek.sparsify(dense, 0.8), x, tmp_path / "sparse.onnx", verify=False).path
    assert compressed_size(b) < 0.6 * compressed_size(a)


def test_bad_sparsity() -> None:
    with pytest.raises(SparsityError, match="sparsity"):
        ek.sparsify(torch.nn.Linear(2, 2), 1.0)
    with pytest.raises(SparsityError, match="scope"):
        ek.sparsify(torch.nn.Linear(2, 2), 0.5, scope="layer")
    with pytest.raises(SparsityError, match="no Conv1d / Conv2d / Linear"):
        ek.sparsify(torch.nn.Sequential(torch.nn.ReLU()), 0.5)
