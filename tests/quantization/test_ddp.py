"""QAT inside a real 2-process DistributedDataParallel run (gloo, CPU): both ranks finalize identically."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    import edgekit as ek
    from edgekit.demo import DigitsCNN, load_digits_split
    from edgekit.quantization import qat_step

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    data = load_digits_split()
    model = ek.prepare_qat(DigitsCNN(widths=(8, 16, 16)), torch.from_numpy(data.x_train[:2]))
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.05)
    x = torch.from_numpy(data.x_train[rank::world][:256])
    y = torch.from_numpy(data.y_train[rank::world][:256])
    for step in range(6):
        batch = slice(step * 32, step * 32 + 32)
        loss = torch.nn.functional.cross_entropy(ddp(x[batch]), y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        qat_step(ddp, step)
    final = ek.finalize(ddp)
    torch.save({k: v.clone() for k, v in final.state_dict().items()}, Path(out) / f"rank{rank}.pt")
    dist.destroy_process_group()


def test_ddp_qat_ranks_finalize_to_identical_models(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert a.keys() == b.keys() and len(a) > 0
    for key in a:
        assert torch.equal(a[key], b[key]), key
