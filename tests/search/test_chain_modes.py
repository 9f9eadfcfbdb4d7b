"""Each quantization mode of a search trial runs the real chain and writes the file type it names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgekit.autocompress.chain import TrialChain
from edgekit.autocompress.config import SearchConfig
from edgekit.autocompress.space import QuantMode, TrialParams


def _tensor_dtypes(path: str) -> set[Any]:
    from ai_edge_litert.interpreter import Interpreter

    return {np.dtype(d["dtype"]) for d in Interpreter(model_path=path).get_tensor_details()}


@pytest.fixture(scope="module")
def chain(base: Any, digits: Any, tmp_path_factory: pytest.TempPathFactory) -> TrialChain:
    folder = tmp_path_factory.mktemp("modes")
    return TrialChain(base[0], digits, folder=folder, config=SearchConfig(runs=5, warmup=1))


@pytest.mark.parametrize(
    ("mode", "weight_dtype", "input_dtype"),
    [
        (QuantMode.FLOAT16, np.float16, np.float32),  # float16 weights, float compute
        (QuantMode.DYNAMIC_INT8, np.int8, np.float32),  # int8 weights, float activations
    ],
)
def test_weight_only_modes_write_their_types(
    chain: TrialChain, mode: QuantMode, weight_dtype: Any, input_dtype: Any
) -> None:
    from edgekit.runtime import Model

    record = chain.run(TrialParams(quant=mode))
    assert np.dtype(weight_dtype) in _tensor_dtypes(record["tflite"])
    assert Model.load(record["tflite"]).inputs[0].file_dtype == input_dtype
    assert record["accuracy"] == pytest.approx(record["accuracy_torch"], abs=0.02)  # weight-only: close
    assert record["keep_float"] == [] and record["p50_ms"] > 0


@pytest.mark.slow
def test_qat_trial_trains_with_distillation_and_writes_int8(chain: TrialChain) -> None:
    from edgekit.runtime import Model

    params = TrialParams(quant=QuantMode.INT8_QAT, qat_epochs=1, distill=True, calibrator="minmax")
    record = chain.run(params)
    assert Model.load(record["tflite"]).inputs[0].file_dtype == np.int8
    assert record["accuracy"] > 0.5 and Path(record["tflite"]).is_file()
    again = chain.run(TrialParams(quant=QuantMode.INT8_QAT, qat_epochs=1, distill=False, calibrator="minmax"))
    assert again["reused"] == ["compress"]  # KD changes the QAT suffix: not taken from the cache
