"""One trial's real chain: resize → prune → fine-tune / KD → quantize → export → verify → profile.

Every call into edgekit's public API that a search makes is in this module (prune, quantize, prepare_qat,
finalize, sensitivity, export, runtime Model, devices.connect, demo training), so an API change is made
in one place. Prefixes are cached by content hash (:mod:`edgekit.autocompress.cache`): the pruned / fine-tuned
``state_dict`` (key: base model + data + compress parameters) and the exported, verified ``.tflite``
(key: that + quantization parameters). Only the differing suffix of a trial re-runs.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.autocompress.cache import ChainCache, content_key
from edgekit.autocompress.locks import device_lock
from edgekit.autocompress.space import TrialParams
from edgekit.errors import SearchError
from edgekit.training import SplitData as TrainingSplit

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SplitData(TrainingSplit):
    """The training split (NCHW float32 images, int64 labels) with what a search adds: validation of the
    user's data, a content digest for the cache, and resizing for the resolution search."""

    @classmethod
    def of(cls, data: Any) -> SplitData:
        """Accept an ``edgekit.demo.DigitsData``-like object or a 4-tuple ``(x_train, y_train, x_test, y_test)``."""
        if isinstance(data, (tuple, list)) and len(data) == 4:
            parts = data
        elif all(hasattr(data, k) for k in ("x_train", "y_train", "x_test", "y_test")):
            parts = (data.x_train, data.y_train, data.x_test, data.y_test)
        else:
            raise SearchError(
                "data must have x_train, y_train, x_test, y_test (e.g. edgekit.demo.load_digits_split()) "
                "or be a tuple (x_train, y_train, x_test, y_test)"
            )
        x_tr, y_tr, x_te, y_te = (np.asarray(p) for p in parts)
        if x_tr.ndim != 4 or x_te.ndim != 4 or len(x_tr) != len(y_tr) or len(x_te) != len(y_te):
            raise SearchError(
                f"data shapes {x_tr.shape}/{y_tr.shape}/{x_te.shape}/{y_te.shape} are not NCHW images with "
                "one label each; pass x as (N, C, H, W) float arrays and y as (N,) integer labels"
            )
        return cls(
            x_tr.astype(np.float32), y_tr.astype(np.int64), x_te.astype(np.float32), y_te.astype(np.int64)
        )

    def digest(self) -> str:
        h = hashlib.sha256()
        for a in (self.x_train, self.y_train, self.x_test, self.y_test):
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:20]

    def resized(self, size: int | None) -> SplitData:
        """Images resized (bilinear) to ``size`` x ``size``; ``None`` keeps them."""
        if size is None or self.x_train.shape[-2:] == (size, size):
            return self
        import torch
        import torch.nn.functional as F

        def resize(x: np.ndarray) -> np.ndarray:
            out = F.interpolate(torch.from_numpy(x), size=(size, size), mode="bilinear", align_corners=False)
            return np.ascontiguousarray(out.numpy(), dtype=np.float32)

        return SplitData(resize(self.x_train), self.y_train, resize(self.x_test), self.y_test)


def model_digest(model: Any) -> str:
    """Hash of a torch module's architecture (its repr) and weights."""
    h = hashlib.sha256(repr(model).encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


class TrialChain:
    """Runs trials for one base model and data set; caches prefixes in ``folder / "cache"``."""

    def __init__(self, model: Any, data: Any, *, folder: Path, config: Any) -> None:
        self.base = copy.deepcopy(model).eval()
        self.data = SplitData.of(data)
        self.folder = Path(folder)
        self.config = config
        self.cache = ChainCache(self.folder / "cache")
        self.base_key = content_key(model_digest(self.base), self.data.digest(), config.seed)

    # --- prefix 1: resize, prune, fine-tune ------------------------------------------------------------
    def _prune(self, model: Any, params: TrialParams, data: SplitData) -> Any:
        import torch

        import edgekit as ek

        base_macs = self._macs(self.base, data)
        torch.manual_seed(self.config.seed)
        config = ek.PruneConfig(
            ratio=None if params.target_macs is not None else params.prune_ratio,
            target_macs=None if params.target_macs is None else int(params.target_macs * base_macs),
            importance=params.importance,
            scope=params.scope,
            round_to=params.round_to,
        )
        return ek.prune(model, torch.from_numpy(data.x_train[:1]), config).model

    @staticmethod
    def _macs(model: Any, data: SplitData) -> int:
        import torch
        import torch_pruning as tp

        macs, _ = tp.utils.count_ops_and_params(model, torch.from_numpy(data.x_train[:1]))
        return int(macs)

    def compressed(
        self, params: TrialParams, data: SplitData, say: Progress
    ) -> tuple[Any, str, dict[str, Any]]:
        """The pruned + fine-tuned torch model of ``params`` (restored from the cache when it is there)."""
        import torch

        from edgekit.training import accuracy, train

        key = "c-" + content_key(self.base_key, params.compress_key())
        model = copy.deepcopy(self.base)
        entry = self.cache.get(key)
        if entry is not None:
            say("compress: reused")
            if params.prunes:
                model = self._prune(model, params, data)
            model.load_state_dict(torch.load(entry["files"]["state_dict"], weights_only=True))
            return model.eval(), key, {**entry, "reused": True}
        if params.prunes:
            say("prune")
            model = self._prune(model, params, data)
        epochs = params.compress_key()["finetune_epochs"]
        if epochs:
            say(f"fine-tune {epochs} epochs" + (" (KD)" if params.distill else ""))
            import edgekit as ek

            loss = ek.Distiller(copy.deepcopy(self.base)) if params.distill else None
            train(model, data.x_train, data.y_train, epochs=epochs, seed=self.config.seed, loss_fn=loss)
        model.eval()
        macs = self._macs(model, data)
        state = self.cache.path(key, ".pt")
        from edgekit.fileio import atomic_path

        with atomic_path(state) as tmp:
            torch.save(model.state_dict(), tmp)
        entry = {
            "files": {"state_dict": str(state)},
            "macs": macs,
            "n_params": sum(p.numel() for p in model.parameters()),
            "accuracy_torch": accuracy(model, data.x_test, data.y_test),
        }
        return model, key, {**self.cache.put(key, entry), "reused": False}

    # --- prefix 2: quantize, export, verify ------------------------------------------------------------
    def _keep_float(
        self, model: Any, key: str, data: SplitData, count: int, say: Progress
    ) -> tuple[str, ...]:
        if count == 0:
            return ()
        import torch

        import edgekit as ek
        from edgekit.training import accuracy

        skey = "s-" + key
        entry = self.cache.get(skey)
        if entry is None:
            say("sensitivity")
            held = (data.x_train[-300:], data.y_train[-300:])  # not the test split the trial is judged on
            layers = ek.sensitivity(
                copy.deepcopy(model),
                torch.from_numpy(data.x_train[:1]),
                calibrate=data.calibration_batches(),
                evaluate=lambda m: accuracy(m, *held),
            )
            entry = self.cache.put(skey, {"files": {}, "worst_first": [layer.layer for layer in layers]})
        return tuple(entry["worst_first"][:count])

    def exported(
        self, model: Any, ckey: str, params: TrialParams, data: SplitData, say: Progress
    ) -> dict[str, Any]:
        """The verified .tflite of ``params`` (from the cache when the same prefix was exported before)."""
        import torch

        import edgekit as ek
        from edgekit.runtime import Model
        from edgekit.training import accuracy, train

        key = "q-" + content_key(ckey, params.quant_key())
        entry = self.cache.get(key)
        if entry is not None:
            say("quantize/export: reused")
            return {**entry, "reused": True}
        example = torch.from_numpy(data.x_train[:1])
        mode = params.quant
        keep = self._keep_float(model, ckey, data, params.keep_float, say) if mode.calibrated else ()
        config = ek.QuantConfig(
            scheme=mode.scheme or "int8",
            calibrator=params.calibrator,  # type: ignore[arg-type]
            keep_float=keep,
        )
        if mode.qat:
            say(f"QAT {mode.scheme} {params.qat_epochs} epochs" + (" (KD)" if params.distill else ""))
            qat = ek.prepare_qat(copy.deepcopy(model), example, config=config)
            loss = ek.Distiller(copy.deepcopy(self.base)) if params.distill else None
            if params.qat_epochs:
                train(
                    qat,
                    data.x_train,
                    data.y_train,
                    epochs=params.qat_epochs,
                    lr=1e-3,
                    seed=self.config.seed,
                    loss_fn=loss,
                )
            model = ek.finalize(qat)
        elif mode.calibrated:
            say(f"PTQ {mode.scheme} ({params.calibrator})")
            model = ek.quantize(model, example, config, calibrate=data.calibration_batches()).model
        elif mode.scheme is not None:
            say(f"{mode.scheme} (weights only)")
            model = ek.quantize(model, example, config).model
        say("export .tflite")
        path = self.cache.path(key, ".tflite")
        result = ek.export(model, example, path)
        say("verify on the held-out split")
        accuracy_file = accuracy(Model.load(result.path), data.x_test, data.y_test)
        entry = {
            "files": {"tflite": str(result.path)},
            "size_bytes": Path(result.path).stat().st_size,
            "quantized": bool(result.quantized),
            "keep_float": list(keep),
            "accuracy": accuracy_file,
        }
        return {**self.cache.put(key, entry), "reused": False}

    # --- profile on the target -------------------------------------------------------------------------
    def profile(self, path: str, say: Progress) -> dict[str, Any]:
        """p50/p90 latency and peak memory of ``path`` on the target, one run at a time per device."""
        from edgekit.devices import connect

        cfg = self.config
        say(f"profile on {cfg.target}")
        with (
            device_lock(self.folder, cfg.target),
            connect(
                cfg.target, key=cfg.key, known_hosts=cfg.known_hosts, python=cfg.python, connect_timeout=5.0
            ) as device,
        ):
            profile = device.profile(path, threads=cfg.threads, runs=cfg.runs, warmup=cfg.warmup)
        return {
            "p50_ms": float(profile.p50_ms),
            "p90_ms": float(profile.p90_ms),
            "peak_memory_mb": float(profile.peak_rss_mb),
            "delegate": profile.delegate,
        }

    def run(self, params: TrialParams, say: Progress | None = None) -> dict[str, Any]:
        """Run the whole chain for ``params``; returns the trial's measurements (raises on failure)."""
        say = say or (lambda message: None)
        t0 = time.perf_counter()
        import torch

        torch.manual_seed(self.config.seed)
        data = self.data.resized(params.resolution)
        model, ckey, compressed = self.compressed(params, data, say)
        exported = self.exported(model, ckey, params, data, say)
        measured = self.profile(exported["files"]["tflite"], say)
        return {
            "accuracy": exported["accuracy"],
            "accuracy_torch": compressed["accuracy_torch"],
            "size_bytes": exported["size_bytes"],
            "macs": compressed["macs"],
            "n_params": compressed["n_params"],
            "tflite": exported["files"]["tflite"],
            "keep_float": exported["keep_float"],
            "reused": [
                name for name, part in (("compress", compressed), ("export", exported)) if part["reused"]
            ],
            "seconds": time.perf_counter() - t0,
            **measured,
        }
