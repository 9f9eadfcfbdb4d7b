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
    original = torchvision.models.resnet18(num_classes=10)
    result = ek.sparsify(original, torch.rand(1, 3, 32, 32), ek.SparsifyConfig(sparsity=0.6, scope=scope))
    model, report = result.model, result.layers
    assert result.sparsity == pytest.approx(0.6, abs=0.01) and sparsity_report(original)[0].zeros == 0
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
    a = ek.export(dense, x, tmp_path / "dense.onnx", ek.ExportConfig(verify=False)).path
    sparse = ek.sparsify(dense, x, ek.SparsifyConfig(sparsity=0.8))
    b = ek.export(sparse, x, tmp_path / "sparse.onnx", ek.ExportConfig(verify=False)).path
    assert compressed_size(b) < 0.6 * compressed_size(a)


def test_bad_sparsity() -> None:
    with pytest.raises(SparsityError, match="sparsity"):
        ek.SparsifyConfig(sparsity=1.0)
    with pytest.raises(SparsityError, match="scope"):
        ek.SparsifyConfig(scope="layer")
    with pytest.raises(SparsityError, match="no Conv1d / Conv2d / Linear"):
        ek.sparsify(torch.nn.Sequential(torch.nn.ReLU()))
    assert ek.SparsifyConfig.from_dict({"sparsity": 0.3, "scope": "local"}).scope.value == "local"


def test_old_style_warns_and_reports_on_the_module() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(64, 64))
    with pytest.warns(DeprecationWarning, match="SparsifyConfig"):
        out = ek.sparsify(model, 0.5, scope="local")
    assert out is model and model.edgekit_sparsity[0].sparsity == pytest.approx(0.5)
    with pytest.warns(DeprecationWarning), pytest.raises(SparsityError, match="sparsity"):
        ek.sparsify(model, 1.0)
