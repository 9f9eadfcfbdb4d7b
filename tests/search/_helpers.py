"""Shared pieces of the search tests: a small trained digits CNN, a fast space, and a worker entry point.

``python _helpers.py OUT BUDGET STATE_DICT [STORAGE]`` runs one search worker (used by the kill/resume and
PostgreSQL tests, which need real separate processes).
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

WIDTHS = (8, 16, 16)
SPACE: dict[str, Any] = {
    "prune_ratio": [0.0, 0.5],
    "importance": ["l1", "l2"],
    "scope": ["local"],
    "finetune_epochs": [0],
    "quant": ["float", "int8_ptq"],
    "calibrator": ["minmax"],
}
CONFIG: dict[str, Any] = {"runs": 20, "warmup": 2, "study": "test"}


def model_from(state_dict: str | Path | None = None) -> Any:
    import torch

    from edgekit.demo import DigitsCNN

    torch.manual_seed(0)
    model = DigitsCNN(widths=WIDTHS)
    if state_dict is not None:
        model.load_state_dict(torch.load(state_dict, weights_only=True))
    return model.eval()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ssh_search(
    server: Any, model: Any, data: Any, space: dict[str, Any], study: str, out: Path, **kw: Any
) -> Any:
    """``ek.search`` profiling every trial on the loopback sshd ``server``, with this interpreter there."""
    import edgekit as ek

    return ek.search(
        model,
        data,
        space,
        {**CONFIG, "study": study},
        out=out,
        target=server.uri,
        key=str(server.key),
        known_hosts=str(server.known_hosts),
        python=sys.executable,
        **kw,
    )


def main(argv: list[str]) -> int:
    import edgekit as ek
    from edgekit.demo import load_digits_split

    out, budget, state_dict = argv[0], int(argv[1]), argv[2]
    storage = argv[3] if len(argv) > 3 else None
    ek.search(
        model_from(state_dict),
        load_digits_split(),
        SPACE,
        CONFIG,
        out=out,
        budget=budget,
        storage=storage,
        resume=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
