"""Compression search (ek.search) vs the hand-made README pipeline, on digits, measured on the same target.

For DigitsCNN and DigitsResNet: train the base model as examples/digits.yaml does (12 epochs), run the
hand-made pipeline of examples/digits.yaml (prune 0.5 + KD 6 epochs + QAT 3 epochs -> int8 .tflite) with
``ek.run``, then ``ek.search`` with N trials on the local target; both .tflite files are profiled by the
same connector (``edgekit.devices.connect("local")``, 1 thread) in the same run. Reports the Pareto front,
the best front speed-up at accuracy >= the hand-made one (within 0.5 pp), the best accuracy at latency <=
the hand-made one, wall time per trial: once as measured during the search, once with the front files and
the hand-made file re-profiled round-robin side by side (the fair comparison on a loaded machine), next to
a one-layer floor model that shows LiteRT's fixed cost per invoke. Then the same small study with 1 and 2
worker processes on a PostgreSQL server started here (wall time, speed-up). Writes
benchmarks/results/search.json and search_<model>.html. ``--work DIR`` keeps the studies: a killed run
started again with the same DIR resumes them (and a smaller ``--trials`` just reports what is there).

    python benchmarks/search.py [--trials 30] [--models cnn resnet] [--pg-trials 8] [--work DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import RESULTS, machine, table, write

import edgekit as ek
from edgekit.demo import DigitsCNN, DigitsResNet, load_digits_split
from edgekit.training import train

SPACE: dict[str, Any] = {
    "prune_ratio": [0.0, 0.8],
    "importance": ["l1", "l2", "bn_scale"],
    "scope": ["local", "global"],
    "distill": [False, True],
    "finetune_epochs": [3],
    "quant": ["float", "int8_ptq", "int8_qat", "float16", "dynamic_int8"],
    "qat_epochs": [1, 2],
    "calibrator": ["minmax", "mse"],
    "keep_float": [0, 1],
}
PG_SPACE: dict[str, Any] = {
    **SPACE,
    "finetune_epochs": [1],
    "quant": ["float", "int8_ptq", "dynamic_int8"],
    "calibrator": ["minmax"],
    "keep_float": [0],
}
RUNS = 100
FLOOR = "floor (linear 64->10)"
ARM_RUNS = 30  # emulated: an int8 invoke of a tiny model takes ~3 ms, fp32 11-16 ms
REPROFILE_ROUNDS = 5


def handmade(name: str, folder: Path, previous: Path | None = None) -> dict[str, Any]:
    """examples/digits.yaml's pipeline for ``name``, then its .tflite profiled like the search's trials.

    ``previous``: the output folder of an earlier ``ek.run`` of that recipe: its .tflite is re-verified on
    the held-out split and profiled now (the pipeline itself is not re-run; QAT takes minutes here).
    """
    from edgekit.devices import connect
    from edgekit.recipes import load_recipe
    from edgekit.runtime import Model
    from edgekit.training import accuracy

    seconds = None
    if previous is not None:
        path = str(previous / f"digits_{name}_int8.tflite")
        data = load_digits_split()
        acc = accuracy(Model.load(path), data.x_test, data.y_test)
    else:
        recipe = load_recipe(Path(__file__).resolve().parents[1] / "examples" / "digits.yaml")
        recipe = recipe.model_copy(
            update={"name": f"digits_{name}", "model": recipe.model.model_copy(update={"demo": name})}
        )
        t0 = time.perf_counter()
        summary = ek.run(recipe, out=folder)
        seconds = time.perf_counter() - t0
        if not summary.ok:
            raise RuntimeError(f"hand-made pipeline failed: {summary.failed_steps}")
        verify = next(s for s in summary.stages if s.step == "verify")
        path, acc = verify.files["tflite"], verify.accuracy
    with connect("local") as device:
        profile = device.profile(path, threads=1, runs=RUNS, warmup=20)
    return {
        "label": f"hand-made ({name}: prune 0.5 + KD + QAT int8)",
        "tflite": str(path),
        "accuracy": acc,
        "p50_ms": profile.p50_ms,
        "p90_ms": profile.p90_ms,
        "size_bytes": Path(path).stat().st_size,
        "seconds": seconds,
    }


def _accuracy(key: str, hand: dict[str, Any], front: list[dict[str, Any]]) -> float:
    if key == "hand-made":
        return float(hand["accuracy"])
    return float(next(t["accuracy"] for t in front if str(t["number"]) == key))


def base_model(name: str, data: Any, saved: Path | None = None) -> Any:
    """The base model trained 12 epochs (seed 0); ``saved``: its state_dict, read if there, else written."""
    import torch

    torch.manual_seed(0)
    model = (DigitsCNN if name == "cnn" else DigitsResNet)(in_channels=1)
    if saved is not None and saved.is_file():
        model.load_state_dict(torch.load(saved, weights_only=True))
        return model.eval()
    model = train(model, data.x_train, data.y_train, epochs=12, seed=0).eval()
    if saved is not None:
        torch.save(model.state_dict(), saved)
    return model


def compare(front: list[dict[str, Any]], hand: dict[str, Any]) -> dict[str, Any]:
    as_good = [t for t in front if t["accuracy"] >= hand["accuracy"] - 0.005]
    as_fast = [t for t in front if t["p50_ms"] <= hand["p50_ms"]]
    fastest = min(as_good, key=lambda t: t["p50_ms"]) if as_good else None
    best = max(as_fast, key=lambda t: t["accuracy"]) if as_fast else None
    return {
        "speedup_at_equal_accuracy": None if fastest is None else hand["p50_ms"] / fastest["p50_ms"],
        "fastest_at_equal_accuracy": fastest and fastest["number"],
        "accuracy_gain_at_equal_latency": None if best is None else best["accuracy"] - hand["accuracy"],
        "most_accurate_at_equal_latency": best and best["number"],
    }


def reprofile(
    files: dict[str, str],
    target: str = "local",
    options: dict[str, Any] | None = None,
    rounds: int = REPROFILE_ROUNDS,
    runs: int = RUNS,
) -> dict[str, dict[str, float]]:
    """p50 of each file re-measured round-robin (same connector, same minutes), median over the rounds.

    The search profiles each trial when it finishes, minutes apart, while other jobs load the 2 cores;
    comparing the front with the hand-made file needs them measured side by side. Also returned: the
    floor, a 64 -> 10 linear layer (the same 1x1x8x8 input): LiteRT's fixed cost per invoke.
    """
    import statistics

    import torch

    from edgekit.devices import connect

    floor = Path(tempfile.mkdtemp()) / "floor.tflite"
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    ek.export(linear, torch.zeros(1, 1, 8, 8), floor)
    files = {FLOOR: str(floor), **files}
    samples: dict[str, list[float]] = {k: [] for k in files}
    with connect(target, **(options or {})) as device:
        for _ in range(rounds):
            for key, path in files.items():
                samples[key].append(device.profile(path, threads=1, runs=runs, warmup=20).p50_ms)
    return {k: {"p50_ms": statistics.median(v), "spread_ms": max(v) - min(v)} for k, v in samples.items()}


@contextlib.contextmanager
def arm_target(root: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The emulated aarch64 root of scripts/make-arm64-target.sh behind a loopback sshd (as tests/devices
    /test_arm.py does): yields its URI and the connect options. Needs root (chroot, mount)."""
    from edgekit.devices.loopback import loopback_sshd

    root = root.resolve()
    with contextlib.ExitStack() as stack:
        if subprocess.run(["mountpoint", "-q", str(root / "proc")]).returncode != 0:
            subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
            stack.callback(subprocess.run, ["umount", str(root / "proc")], check=False)
        forced = (
            f'command="QEMU_CPU=cortex-a76 chroot {shlex.quote(str(root))} '
            '/bin/sh -c \\"$SSH_ORIGINAL_COMMAND\\"" '
        )
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        server = stack.enter_context(loopback_sshd(folder, authorized_prefix=forced))
        yield (
            server.uri,
            {
                "key": server.key,
                "known_hosts": server.known_hosts,
                "python": "/opt/edgekit/bin/python",
            },
        )


def arm_part(
    root: Path, parts: dict[str, dict[str, Any]], trials: int, work: Path, rounds: int = 3
) -> dict[str, Any]:
    """On the emulated aarch64 target: each model's hand-made file and local front re-profiled side by side,
    then a small DigitsCNN search (``trials``, the cheap PostgreSQL space) profiled on that target."""
    from edgekit.devices import connect

    out: dict[str, Any] = {"runs": ARM_RUNS, "rounds": rounds}
    with arm_target(root) as (uri, options):
        with connect(uri, **options) as device:
            info = device.info()
        out["device"] = {"arch": info.arch, "flags": list(info.cpu_flags), "emulated": info.emulated}
        print(f"[arm] {info.arch} emulated={info.emulated} flags {' '.join(info.cpu_flags)}", flush=True)
        for name, part in parts.items():
            files = {"hand-made": part["handmade"]["tflite"]}
            files.update({str(t["number"]): t["tflite"] for t in part["front"]})
            again = reprofile(files, uri, options, rounds=rounds, runs=ARM_RUNS)
            hand = {**part["handmade"], "p50_ms": again["hand-made"]["p50_ms"]}
            front = [{**t, "p50_ms": again[str(t["number"])]["p50_ms"]} for t in part["front"]]
            out[name] = {"reprofiled": again, **compare(front, hand)}
            print(
                table(
                    ["file", "p50 ms (aarch64, emulated)", "spread ms"],
                    [[k, v["p50_ms"], v["spread_ms"]] for k, v in again.items()],
                )
            )
            print(f"[arm] {name}: {out[name]}", flush=True)
        if trials:
            data = load_digits_split()
            t0 = time.perf_counter()
            result = ek.search(
                base_model("cnn", data, work / "cnn" / "base.pt"),
                data,
                PG_SPACE,
                {"target": uri, **options, "runs": ARM_RUNS, "warmup": 5, "study": "bench-arm"},
                out=work / "arm-search",
                budget=trials,
                resume=True,
            )
            out["search"] = {
                "wall_s": time.perf_counter() - t0,
                "trials": [
                    {k: t.get(k) for k in ("number", "state", "error", "accuracy", "p50_ms", "seconds")}
                    | {
                        "quant": (t["params"] or {}).get("quant"),
                        "prune": (t["params"] or {}).get("prune_ratio"),
                    }
                    for t in result.trials
                ],
                "front": [t["number"] for t in result.front],
            }
            print(f"[arm] search: {out['search']}", flush=True)
    return out


def search_part(
    name: str, trials: int, folder: Path, previous: Path | None = None, report_only: bool = False
) -> dict[str, Any]:
    from edgekit.autocompress.api import finish
    from edgekit.autocompress.config import SearchConfig

    data = load_digits_split()
    done_before = folder / "handmade" / f"digits_{name}_int8.tflite"
    if previous is None and done_before.is_file():  # a resumed run (--work): the pipeline ran already
        previous = done_before.parent
    hand = handmade(name, folder / "handmade", previous)
    print(f"[{name}] hand-made: {hand['accuracy']:.2%} p50 {hand['p50_ms']:.4g} ms", flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    config = SearchConfig(
        target="local", budget=trials, runs=RUNS, warmup=20, study=f"bench-{name}", resume=True
    )
    if report_only:  # the trials a killed run finished (its interrupted trial is left out)
        done_files = sorted((folder / "search" / "trials").glob("trial-*.json"))
        records = [json.loads(f.read_text()) for f in done_files]
    else:
        records = ek.search(
            copy.deepcopy(base_model(name, data, folder / "base.pt")),
            data,
            SPACE,
            config,
            out=folder / "search",
            progress=lambda done, total, msg: print(
                f"\r[{name}] {done}/{total} {msg[:110]:<110}", end="", flush=True
            ),
        ).trials
    wall = time.perf_counter() - t0
    print(flush=True)
    result = finish(records, config, folder / "search", baselines=[hand])  # report with the baseline
    report = RESULTS / f"search_{name}.html"
    report.write_text(result.report.read_text())
    done = result.complete
    rows = [
        [
            t["number"],
            t["params"]["quant"],
            t["params"]["qat_epochs"] or "",
            t["params"]["prune_ratio"],
            t["params"]["importance"] if t["params"]["prune_ratio"] else "",
            t["params"]["distill"],
            t["params"]["keep_float"] or "",
            f"{t['accuracy']:.2%}",
            t["p50_ms"],
            t["size_bytes"] // 1024,
        ]
        for t in result.front
    ]
    print(
        table(
            ["trial", "quant", "QAT ep", "prune", "importance", "KD", "keep fp", "accuracy", "p50 ms", "KiB"],
            rows,
        )
    )
    gains = compare(result.front, hand)
    print(f"[{name}] as measured during the search: {gains}", flush=True)
    again = reprofile({"hand-made": hand["tflite"], **{str(t["number"]): t["tflite"] for t in result.front}})
    side_by_side = [{**t, "p50_ms": again[str(t["number"])]["p50_ms"]} for t in result.front]
    hand_now = {**hand, "p50_ms": again["hand-made"]["p50_ms"]}
    gains_now = compare(side_by_side, hand_now)
    floor = again[FLOOR]["p50_ms"]
    print(
        table(
            ["file", "accuracy", "p50 ms (interleaved)", "spread ms", "above floor ms"],
            [
                [
                    k,
                    "" if k == FLOOR else f"{_accuracy(k, hand, result.front):.2%}",
                    v["p50_ms"],
                    v["spread_ms"],
                    "" if k == FLOOR else v["p50_ms"] - floor,
                ]
                for k, v in again.items()
            ],
        )
    )
    print(f"[{name}] re-profiled side by side: {gains_now}", flush=True)
    gains_compute = compare(
        [{**t, "p50_ms": max(t["p50_ms"] - floor, 1e-6)} for t in side_by_side],
        {**hand_now, "p50_ms": max(hand_now["p50_ms"] - floor, 1e-6)},
    )
    print(f"[{name}] side by side, compute above the {floor * 1000:.2f} us invoke floor: {gains_compute}")
    return {
        "model": name,
        "trials": len(result.trials),
        "complete": len(done),
        "failed": [t["error"] for t in result.failed],
        "wall_s": None if report_only else wall,
        "s_per_trial": None if report_only else wall / max(len(result.trials), 1),
        "trial_seconds_median": sorted(t["seconds"] for t in done)[len(done) // 2] if done else None,
        "trial_seconds_mean": sum(t["seconds"] for t in done) / len(done) if done else None,
        "handmade": hand,
        "front": [
            {
                k: t[k]
                for k in (
                    "number",
                    "params",
                    "accuracy",
                    "p50_ms",
                    "p90_ms",
                    "size_bytes",
                    "peak_memory_mb",
                    "macs",
                    "tflite",
                )
            }
            for t in result.front
        ],
        "during_search": gains,
        "reprofiled": again,
        **gains_now,
        "above_floor": gains_compute,
        "report": str(report),
    }


def pg_part(trials: int, folder: Path) -> dict[str, Any]:
    import torch

    from edgekit.autocompress.pgserver import local_postgres

    data = load_digits_split()
    model = base_model("cnn", data)
    folder.mkdir(parents=True, exist_ok=True)
    state = folder / "base.pt"
    torch.save(model.state_dict(), state)
    walls = {}
    with local_postgres() as url:
        for workers in (1, 2):
            out = folder / f"pg{workers}"
            args = [
                sys.executable,
                __file__,
                "--worker",
                str(out),
                str(trials),
                str(state),
                url,
                f"pg-{workers}",
            ]
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            t0 = time.perf_counter()
            procs = [subprocess.Popen(args, env=env) for _ in range(workers)]
            codes = [p.wait() for p in procs]
            walls[workers] = time.perf_counter() - t0
            print(
                f"[postgres] {workers} worker(s): {walls[workers]:.0f} s for {trials} trials, exit {codes}",
                flush=True,
            )
    return {
        "trials": trials,
        "wall_1_worker_s": walls[1],
        "wall_2_workers_s": walls[2],
        "speedup_2_workers": walls[1] / walls[2],
    }


def worker(out: str, trials: str, state: str, url: str, study: str) -> None:
    import torch

    model = DigitsCNN(in_channels=1)
    model.load_state_dict(torch.load(state, weights_only=True))
    ek.search(
        model.eval(),
        load_digits_split(),
        PG_SPACE,
        {"study": study, "runs": RUNS, "warmup": 20},
        out=out,
        budget=int(trials),
        storage=url,
        resume=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--models", nargs="+", default=["cnn", "resnet"])
    parser.add_argument("--pg-trials", type=int, default=8)
    parser.add_argument(
        "--handmade-from", type=Path, help="ek.run output of examples/digits.yaml (first model)"
    )
    parser.add_argument("--only-postgres", action="store_true", help="add the PostgreSQL part to search.json")
    parser.add_argument(
        "--work",
        type=Path,
        help="working folder kept between runs: a rerun resumes each study and re-uses the hand-made file",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="with --work: report the trials finished there, run none"
    )
    parser.add_argument(
        "--arm-root",
        type=Path,
        help="aarch64 root of scripts/make-arm64-target.sh: re-profile the fronts there (needs root)",
    )
    parser.add_argument("--arm-trials", type=int, default=0, help="with --arm-root: a small search there")
    parser.add_argument("--arm-rounds", type=int, default=3, help="with --arm-root: side-by-side rounds")
    parser.add_argument(
        "--only-arm",
        action="store_true",
        help="with --arm-root and --work: add the aarch64 part to search.json",
    )
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    # One torch thread per process: on 2 shared cores, 2 threads made a DigitsCNN epoch take 22.8 s
    # instead of 1.1 s (oversubscription). LiteRT profiles with 1 thread anyway.
    torch.set_num_threads(1)
    if args.worker:
        worker(*args.worker)
        return
    cpu = machine()["cpu"]
    print(f"CPU: {cpu['model']}, {cpu['cores']} cores, flags {' '.join(cpu['flags'])}", flush=True)
    results: dict[str, Any] = {"trials_requested": args.trials, "space": SPACE, "runs": RUNS}
    if args.only_arm:
        saved = json.loads((RESULTS / "search.json").read_text())
        saved.pop("machine", None)
        parts = {name: saved[name] for name in args.models if name in saved}
        saved["arm"] = arm_part(args.arm_root, parts, args.arm_trials, args.work, args.arm_rounds)
        print(f"wrote {write('search', saved)}")
        return
    if args.only_postgres:
        saved = json.loads((RESULTS / "search.json").read_text())
        saved.pop("machine", None)
        with tempfile.TemporaryDirectory() as tmp:
            saved["postgres"] = pg_part(args.pg_trials, Path(tmp) / "pg")
        print(f"wrote {write('search', saved)}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        for i, name in enumerate(args.models):
            previous = args.handmade_from if i == 0 else None
            results[name] = search_part(name, args.trials, work / name, previous, args.report_only)
            write("search", results)
        if args.arm_root is not None:
            parts = {name: results[name] for name in args.models}
            results["arm"] = arm_part(
                args.arm_root, parts, args.arm_trials, args.work or Path(tmp), args.arm_rounds
            )
            write("search", results)
        if args.pg_trials:
            results["postgres"] = pg_part(args.pg_trials, Path(tmp) / "pg")
    print(f"wrote {write('search', results)}")


if __name__ == "__main__":
    main()
