"""Models with structured outputs, integer / boolean inputs, and parts torch.export cannot trace."""

from __future__ import annotations

import collections
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

import edgekit as ek
from edgekit.converters.check_data import index_limits
from edgekit.converters.onnx_export import flatten_outputs
from edgekit.converters.onnx_normalize import load_onnx
from edgekit.errors import ExportError, InputSpecError
from edgekit.runtime import Model


class Detector(torch.nn.Module):
    """Outputs of different shapes in a nested dict: logits (1x5), boxes.0 (1x2), boxes.1 (1x4x8x8), feat."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.cls = torch.nn.Linear(4, 5)
        self.box = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> dict:
        y = torch.relu(self.conv(x))
        pooled = y.mean((2, 3))
        return {"logits": self.cls(pooled), "boxes": (self.box(pooled), y), "feat": pooled}


@pytest.mark.parametrize("suffix", [".onnx", ".tflite"])
def test_dict_outputs_keep_names_and_pytorch_order(tmp_path: Path, suffix: str) -> None:
    torch.manual_seed(0)
    model, x = Detector().eval(), torch.rand(1, 3, 8, 8)
    result = ek.export(model, x, tmp_path / f"d{suffix}")
    assert result.parity is not None and result.parity.max_abs < 1e-5
    loaded = Model.load(result.path)
    assert [o.name for o in loaded.outputs] == ["logits", "boxes.0", "boxes.1", "feat"]
    assert [o.shape for o in loaded.outputs] == [(1, 5), (1, 2), (1, 4, 8, 8), (1, 4)]
    expected = model(x)
    by_name = loaded.run(x.numpy(), as_dict=True)
    np.testing.assert_allclose(by_name["logits"], expected["logits"].detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(by_name["boxes.1"], expected["boxes"][1].detach().numpy(), atol=1e-5)
    as_list = loaded.run(x.numpy())
    assert [a.shape for a in as_list] == [(1, 5), (1, 2), (1, 4, 8, 8), (1, 4)]


Pair = collections.namedtuple("Pair", "scores embedding")


@dataclasses.dataclass
class Result:
    scores: torch.Tensor
    extras: list


def test_flatten_names_for_namedtuple_dataclass_tuple_and_tensor() -> None:
    t = torch.zeros(1)
    assert flatten_outputs(Pair(t, t))[0] == ["scores", "embedding"]
    assert flatten_outputs(Result(t, [t, t]))[0] == ["scores", "extras.0", "extras.1"]
    assert flatten_outputs((t, [t, t]))[0] == ["output_0", "output_1.0", "output_1.1"]
    assert flatten_outputs(t)[0] == ["output"]


class DataclassModel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> Result:
        return Result(self.fc(x), [x.sum(1, keepdim=True)])


def test_dataclass_outputs_export_by_name(tmp_path: Path) -> None:
    result = ek.export(DataclassModel().eval(), torch.rand(1, 6), tmp_path / "m.onnx")
    assert [o.name for o in Model.load(result.path).outputs] == ["scores", "extras.0"]


class CountingModel(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> dict:
        return {"logits": x * 2, "count": 3}


def test_a_non_tensor_output_is_named(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"output 'count' is a int, not a tensor"):
        ek.export(CountingModel(), torch.rand(1, 4), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


class TextEncoder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(50, 8)
        self.head = torch.nn.Linear(8, 3)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> dict:
        hidden = self.embed(ids) * mask.unsqueeze(-1).to(torch.float32)
        return {"logits": self.head(hidden.mean(1)), "hidden": hidden}


@pytest.mark.parametrize("suffix", [".onnx", ".tflite"])
def test_int64_token_ids_and_bool_mask_keep_their_dtype(tmp_path: Path, suffix: str) -> None:
    torch.manual_seed(0)
    model = TextEncoder().eval()
    ids, mask = torch.randint(0, 50, (1, 7)), torch.rand(1, 7) > 0.3
    result = ek.export(model, (ids, mask), tmp_path / f"t{suffix}")
    assert result.parity is not None and result.parity.max_abs < 1e-5
    loaded = Model.load(result.path)
    assert [str(i.dtype) for i in loaded.inputs] == ["int64", "bool"]
    out = loaded.run({"ids": ids.numpy(), "mask": mask.numpy()}, as_dict=True)
    np.testing.assert_allclose(out["logits"], model(ids, mask)["logits"].detach().numpy(), atol=1e-5)
    out32 = loaded.run([ids.numpy().astype(np.int32), mask.numpy()], as_dict=True)  # cast where values fit
    np.testing.assert_allclose(out32["logits"], out["logits"], atol=0)


def test_token_ids_outside_the_vocabulary_are_a_clear_error(tmp_path: Path) -> None:
    ids, mask = torch.full((1, 7), 60), torch.ones(1, 7, dtype=torch.bool)
    with pytest.raises(InputSpecError, match=r"60\.\.60.*indices 0\.\.49"):
        ek.export(TextEncoder().eval(), (ids, mask), tmp_path / "t.onnx")


class MaskedSum(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y[y > 0.5].sum(0, keepdim=True) if y.sum() > 0 else y


def test_untraceable_code_is_one_line_naming_the_code_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ExportError) as err:
        ek.export(MaskedSum().eval(), torch.rand(1, 3, 4, 4), tmp_path / "m.onnx")
    message = str(err.value)
    assert "\n" not in message and "\x1b" not in message and len(message) < 800
    assert "could not trace MaskedSum at test_structured_io.py:" in message
    assert "in forward()" in message and "y.sum() > 0" in message
    assert "backbone and head" in message and "--debug" in message


class TokenClassifier(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(50, 8)
        self.head = torch.nn.Linear(8, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(ids).mean(1))


def test_convert_checks_token_ids_inside_the_vocabulary(tmp_path: Path) -> None:
    import warnings

    torch.manual_seed(0)
    src = tmp_path / "tokens.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            TokenClassifier().eval(),
            (torch.randint(0, 50, (1, 9)),),
            str(src),
            dynamo=False,
            opset_version=17,
            input_names=["ids"],
            dynamic_axes={"ids": {0: "batch", 1: "sequence"}},
        )
    assert index_limits(load_onnx(src)) == {"ids": 50}  # check ids are drawn below the vocabulary size
    result = ek.convert(src, tmp_path / "tokens.tflite", input_shapes="ids:1x9")
    assert result.parity is not None and result.parity.max_abs < 1e-5 and result.parity.n == 2
    loaded = Model.load(result.path)
    assert loaded.inputs[0].dtype.kind == "i" and loaded.inputs[0].shape == (1, 9)
