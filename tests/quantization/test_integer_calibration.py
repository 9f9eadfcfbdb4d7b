"""``ek.quantize`` of a text encoder calibrates on the user's token ids: integer batches stay integers (they
were cast to float and the embedding lookup failed), ids outside the vocabulary and fractional ids are
named errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import edgekit as ek
from edgekit.errors import QuantizationError

VOCAB = 100


class TextEncoder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, 32)
        self.fc = torch.nn.Linear(32, 16)
        self.head = torch.nn.Linear(16, 4)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.fc(self.embed(ids)))).mean(1)


def _setup() -> tuple[TextEncoder, torch.Tensor, list[np.ndarray]]:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, VOCAB, (4, 12)) for _ in range(4)]  # ids as a tokenizer gives them (int64)
    return TextEncoder().eval(), torch.randint(0, VOCAB, (1, 12)), batches


def test_token_id_batches_calibrate_a_text_encoder() -> None:
    model, ids, batches = _setup()
    result = ek.quantize(model, ids, calibrate=batches)
    assert result.calibration_samples == 16
    x = torch.from_numpy(batches[0])
    with torch.no_grad():
        want, got = model(x).reshape(-1), result.model(x).reshape(-1)
    assert float(torch.nn.functional.cosine_similarity(want, got, dim=0)) > 0.99


def test_ids_outside_the_vocabulary_name_the_embedding_size() -> None:
    model, ids, batches = _setup()
    batches[1] = batches[1] + VOCAB
    with pytest.raises(
        QuantizationError, match=rf"batch 1 .*input 0: \d+\.\.\d+; .*{VOCAB} rows.*vocabulary"
    ):
        ek.quantize(model, ids, calibrate=batches)


def test_fractional_values_for_an_id_input_are_refused() -> None:
    model, ids, _ = _setup()
    with pytest.raises(QuantizationError, match=r"batch 0, input 0: .*token ids.*fractional"):
        ek.quantize(model, ids, calibrate=[np.random.default_rng(0).random((4, 12)) * 10])
