"""Int8 Hugging Face BERT (built from a small config, random init, nothing downloaded) through the direct
writer: the embedding table read by GATHER and the token-type embedding (a value that folds to a constant
only in the writer) are stored int8 with their own ONNX scales, and the attention with a padding mask runs
int8 (BATCH_MATMUL, MUL, ADD of the mask, SOFTMAX, BATCH_MATMUL), so the .tflite matches ONNX Runtime on
the same QDQ file and the PyTorch int8 model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import edgekit as ek
from edgekit.runtime import Model

transformers = pytest.importorskip("transformers")

SEQ = 16
VOCAB = 1000


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _ids_and_mask(generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and a padding mask keeping the first 4..15 tokens."""
    ids = torch.randint(0, VOCAB, (1, SEQ), generator=generator)
    mask = torch.ones(1, SEQ, dtype=torch.long)
    mask[:, int(torch.randint(4, SEQ, (1,), generator=generator)) :] = 0
    return ids, mask


@pytest.fixture(scope="module")
def int8_bert(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path, Path]:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        num_hidden_layers=2,
        hidden_size=64,
        num_attention_heads=2,
        intermediate_size=128,
        vocab_size=VOCAB,
        max_position_embeddings=64,
    )
    bert = transformers.BertModel(config).eval()
    example = _ids_and_mask()
    calibration = [_ids_and_mask() for _ in range(8)]
    quantized = ek.quantize(bert, example, calibrate=calibration).model
    folder = tmp_path_factory.mktemp("bert")
    onnx_path = ek.export(quantized, example, folder / "bert.onnx").path
    tflite = ek.export(quantized, example, folder / "bert.tflite")  # verified against PyTorch int8
    assert tflite.quantized and tflite.parity is not None and tflite.parity.cosine_min > 0.999
    # the masked attention is int8: only the LayerNorms (float by default) are named as float
    islands = [n for n in tflite.notes if "runs in float" in n]
    assert islands and all("LayerNormalization" in n for n in islands), tflite.notes
    return quantized, onnx_path, tflite.path


@pytest.mark.slow  # the BERT fixture takes ~60 s on 2 cores (two dynamo exports)
def test_int8_bert_matches_pytorch_int8_and_onnxruntime(
    int8_bert: tuple[torch.nn.Module, Path, Path],
) -> None:
    import onnxruntime as ort

    quantized, onnx_path, tflite_path = int8_bert
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    model = Model.load(tflite_path)
    generator = torch.Generator().manual_seed(1)
    names = [i.name for i in session.get_inputs()]
    for _ in range(3):
        ids, mask = _ids_and_mask(generator)
        with torch.no_grad():
            reference = quantized(ids, mask)[0].numpy()
        ort_out = session.run(None, dict(zip(names, [ids.numpy(), mask.numpy()], strict=True)))[0]
        out = model.run([ids.numpy(), mask.numpy()], as_dict=True)["last_hidden_state"]
        assert _cosine(out, reference) > 0.999
        assert _cosine(out, ort_out) > 0.999


@pytest.mark.slow
def test_int8_bert_masked_attention_is_int8(int8_bert: tuple[torch.nn.Module, Path, Path]) -> None:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(int8_bert[2]))
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()
    attention = [op for op in ops if op["op_name"] in ("BATCH_MATMUL", "SOFTMAX")]
    assert len(attention) == 2 * 3  # 2 layers: Q.K^T, SOFTMAX, .V
    for op in attention:
        assert all(details[i]["dtype"] == np.int8 for i in [*op["inputs"], *op["outputs"]]), op
    softmax_inputs = {op["inputs"][0] for op in ops if op["op_name"] == "SOFTMAX"}
    adds = [op for op in ops if op["op_name"] == "ADD" and op["outputs"][0] in softmax_inputs]
    assert len(adds) == 2 and all(details[op["outputs"][0]]["dtype"] == np.int8 for op in adds)


@pytest.mark.slow
def test_int8_bert_embeddings_are_int8(int8_bert: tuple[torch.nn.Module, Path, Path]) -> None:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(int8_bert[2]))
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    gathers = [op for op in interpreter._get_ops_details() if op["op_name"] == "GATHER"]
    tables = [details[op["inputs"][0]] for op in gathers]
    float_tables = [t for t in tables if t["dtype"] == np.float32 and t["shape"][-1] == 64]
    assert not float_tables, "an embedding table was left float next to an int8 GATHER output"
    assert all(details[op["outputs"][0]]["dtype"] in (np.int8, np.int32) for op in gathers)


class _Embeddings(torch.nn.Module):
    """BERT's embedding sum in small: a word table gathered by ids, plus a token-type row gathered by
    constant ids (it folds to a constant in the writer) and a learned position table."""

    def __init__(self) -> None:
        super().__init__()
        self.words = torch.nn.Embedding(50, 16)
        self.types = torch.nn.Embedding(2, 16)
        self.positions = torch.nn.Parameter(torch.randn(1, 8, 16))
        self.register_buffer("type_ids", torch.zeros(1, 8, dtype=torch.long))
        self.proj = torch.nn.Linear(16, 4)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.proj(self.words(ids) + self.types(self.type_ids) + self.positions)


def test_int8_embedding_sum_matches_onnxruntime(tmp_path: Path) -> None:
    import onnxruntime as ort

    torch.manual_seed(0)
    model = _Embeddings().eval()
    ids = torch.randint(0, 50, (1, 8))
    quantized = ek.quantize(
        model, (ids,), calibrate=[(torch.randint(0, 50, (1, 8)),) for _ in range(8)]
    ).model
    onnx_path = ek.export(quantized, (ids,), tmp_path / "emb.onnx").path
    tflite = ek.convert(onnx_path, tmp_path / "emb.tflite")
    assert tflite.quantized and tflite.parity is not None
    assert tflite.parity.cosine_min > 0.999, tflite.parity.summary()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    other = torch.randint(0, 50, (1, 8))
    out = Model.load(tflite.path).run(other.numpy())
    out = out[0] if isinstance(out, list | tuple) else out
    assert _cosine(out, session.run(None, {session.get_inputs()[0].name: other.numpy()})[0]) > 0.999
