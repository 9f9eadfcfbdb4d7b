"""``ek.search``: hardware-aware compression search with Optuna, measured on the target device."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.autocompress.config import OBJECTIVES, SearchConfig
from edgekit.autocompress.pareto import choose, closest, constraint_values, pareto_front
from edgekit.autocompress.space import SearchSpace, TrialParams, sample
from edgekit.errors import ConstraintError, SearchError
from edgekit.fileio import write_text_atomic

log = logging.getLogger(__name__)

SearchProgress = Callable[[int, int, str], None]
"""progress(trials_done, budget, message) — message names the running step and the best so far."""


@dataclass
class SearchResult:
    """What a search found. ``trials``: every trial that counts (complete and failed, in number order),
    each a dict with ``number``, ``state``, ``params``, ``error`` and the measurements (``accuracy``,
    ``p50_ms``, ``p90_ms``, ``size_bytes``, ``peak_memory_mb``, ``macs``, ``seconds``, ``tflite``).
    ``front``: the Pareto-optimal complete trials; ``chosen``: the trial picked by the constraint mode;
    ``artifacts``: the chosen trial's exported files; ``report``: ``search.html``.
    """

    out: Path
    study: str
    config: dict[str, Any]
    trials: list[dict[str, Any]]
    front: list[dict[str, Any]]
    chosen: dict[str, Any] | None
    artifacts: dict[str, Path] = field(default_factory=dict)
    report: Path | None = None

    @property
    def complete(self) -> list[dict[str, Any]]:
        return [t for t in self.trials if t["state"] == "complete"]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [t for t in self.trials if t["state"] == "failed"]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["out"] = str(self.out)
        data["artifacts"] = {k: str(v) for k, v in self.artifacts.items()}
        data["report"] = None if self.report is None else str(self.report)
        return data


def _sampler(config: SearchConfig, seed: int) -> Any:
    import optuna

    n = len(config.objectives)

    def constraints(trial: Any) -> list[float]:
        values = trial.user_attrs.get("constraints")
        k = (config.min_accuracy is not None) + (config.max_latency_ms is not None)
        return list(values) if values is not None else [1.0] * k

    func = constraints if config.min_accuracy is not None or config.max_latency_ms is not None else None
    if config.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(
            seed=seed, constraints_func=func, population_size=max(4, 2 * n + 4)
        )
    if config.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(
        seed=seed, constraints_func=func, n_startup_trials=min(8, config.budget)
    )


def _trial_dict(trial: Any) -> dict[str, Any]:
    from optuna.trial import TrialState

    state = "complete" if trial.state == TrialState.COMPLETE else "failed"
    record = {"number": trial.number, "state": state, "params": trial.user_attrs.get("params")}
    record["error"] = trial.user_attrs.get("error")
    record["worker"] = trial.user_attrs.get("edgekit_worker")
    record.update(trial.user_attrs.get("metrics") or {})
    return record


def _finished(study: Any) -> list[dict[str, Any]]:
    from optuna.trial import TrialState

    from edgekit.autocompress.storage import counted

    done = (TrialState.COMPLETE, TrialState.FAIL)
    return [_trial_dict(t) for t in study.get_trials(deepcopy=False, states=done) if counted(t)]


def _best_text(records: list[dict[str, Any]]) -> str:
    done = [r for r in records if r["state"] == "complete"]
    if not done:
        return "no trial finished yet"
    best = max(done, key=lambda r: (r["accuracy"], -r["p50_ms"]))
    fastest = min(done, key=lambda r: r["p50_ms"])
    return (
        f"best {best['accuracy']:.2%} @ {best['p50_ms']:.4g} ms, fastest {fastest['p50_ms']:.4g} ms "
        f"@ {fastest['accuracy']:.2%}"
    )


def _run_trial(
    study: Any, chain: Any, space: SearchSpace, config: SearchConfig, folder: Path, say: Callable[[str], None]
) -> dict[str, Any]:
    from edgekit.autocompress.storage import WORKER_ATTR, worker_id

    trial = study.ask()
    trial.set_user_attr(WORKER_ATTR, worker_id())
    params: TrialParams | None = None
    try:
        params = sample(trial, space)
        trial.set_user_attr("params", params.to_dict())
        metrics = chain.run(params, lambda message: say(f"trial {trial.number}: {message}"))
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # a failing trial is recorded, the search goes on
        error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:600]}"
        log.warning("trial %d failed: %s", trial.number, error)
        log.debug("%s", traceback.format_exc())
        trial.set_user_attr("error", error)
        study.tell(trial, state=_fail_state())
        record = {
            "number": trial.number,
            "state": "failed",
            "error": error,
            "params": None if params is None else params.to_dict(),
        }
    else:
        trial.set_user_attr("metrics", metrics)
        if config.min_accuracy is not None or config.max_latency_ms is not None:
            trial.set_user_attr(
                "constraints", constraint_values(metrics, config.min_accuracy, config.max_latency_ms)
            )
        study.tell(trial, [float(metrics[OBJECTIVES[o][1]]) for o in config.objectives])
        record = {
            "number": trial.number,
            "state": "complete",
            "error": None,
            "params": params.to_dict(),
            **metrics,
        }
    write_text_atomic(
        folder / "trials" / f"trial-{trial.number:04d}.json", json.dumps(record, indent=1, default=str)
    )
    return record


def _step_reporter(say: SearchProgress, done: int, budget: int, best: str) -> Callable[[str], None]:
    def report(message: str) -> None:
        say(done, budget, f"{message} | {best}")

    return report


def _fail_state() -> Any:
    from optuna.trial import TrialState

    return TrialState.FAIL


def _export_chosen(chosen: dict[str, Any], folder: Path) -> dict[str, Path]:
    from edgekit.fileio import atomic_path

    target = folder / "best.tflite"
    with atomic_path(target) as tmp:
        shutil.copyfile(chosen["tflite"], tmp)
    meta = write_text_atomic(folder / "best.json", json.dumps(chosen, indent=1, default=str))
    return {"tflite": target, "json": meta}


def search(
    model: Any,
    data: Any,
    space: SearchSpace | Mapping[str, Any] | None = None,
    config: SearchConfig | Mapping[str, Any] | None = None,
    *,
    out: str | os.PathLike[str] = "edgekit-search",
    progress: SearchProgress | None = None,
    **overrides: Any,
) -> SearchResult:
    """Search compression settings of ``model`` for the target device with Optuna (multi-objective).

    Each trial runs the real chain — prune, fine-tune (optionally distilled), quantize, export to
    .tflite, verify accuracy on the held-out split through ``edgekit.runtime``, profile on
    ``config.target`` — and records accuracy, p50/p90 latency, size and peak memory. ``data`` has
    ``x_train, y_train, x_test, y_test`` (e.g. ``edgekit.demo.load_digits_split()``). Keyword
    ``overrides`` replace fields of ``config`` (``target=``, ``objectives=``, ``budget=``, ...).

    Writes into ``out``: ``study.db`` (unless ``config.storage`` is PostgreSQL), ``cache/`` (reused
    chain prefixes), ``trials/``, ``search.json``, ``search.html`` and the chosen trial as
    ``best.tflite`` / ``best.json``. A killed search continues with ``resume=True`` (finished trials are
    kept, the interrupted one runs again). Raises :class:`~edgekit.errors.ConstraintError` (after writing
    the report) when no trial meets ``min_accuracy`` / ``max_latency_ms``.

    >>> import edgekit as ek                                                    # doctest: +SKIP
    >>> from edgekit.demo import DigitsCNN, load_digits_split, train            # doctest: +SKIP
    >>> d = load_digits_split(); m = train(DigitsCNN(), d.x_train, d.y_train)    # doctest: +SKIP
    >>> r = ek.search(m, d, target="local", budget=30, out="search")            # doctest: +SKIP
    >>> [(t["accuracy"], t["p50_ms"]) for t in r.front]                         # doctest: +SKIP
    """
    from edgekit.autocompress.chain import TrialChain
    from edgekit.autocompress.storage import counted, open_study, recover_stale

    if space is None:
        space = SearchSpace()
    elif isinstance(space, Mapping):
        space = SearchSpace.from_dict(space)
    if config is None:
        config = SearchConfig()
    elif isinstance(config, Mapping):
        config = SearchConfig.from_dict(config)
    if not isinstance(space, SearchSpace) or not isinstance(config, SearchConfig):
        raise SearchError("space must be a SearchSpace (or dict) and config a SearchConfig (or dict)")
    if overrides:
        unknown = set(overrides) - {f.name for f in dataclasses.fields(SearchConfig)}
        if unknown:
            raise SearchError(f"unknown search option(s) {sorted(unknown)}; see SearchConfig's fields")
        config = dataclasses.replace(config, **overrides)
    folder = Path(out)
    say = progress or (lambda done, total, message: None)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(config, folder, sampler=None)
    existing = len(study.trials)
    seed = config.seed + existing + (os.getpid() if config.storage is not None else 0)
    study.sampler = _sampler(config, seed % (2**31))
    recover_stale(study)
    chain = TrialChain(model, data, folder=folder, config=config)
    from optuna.trial import TrialState

    while True:
        trials = study.get_trials(deepcopy=False)
        waiting = any(t.state == TrialState.WAITING for t in trials)
        active = [t for t in trials if counted(t) and t.state != TrialState.WAITING]
        if not waiting and len(active) >= config.budget:
            break
        finished = _finished(study)
        count, best = len(finished), _best_text(finished)
        say(count, config.budget, best)
        _run_trial(study, chain, space, config, folder, _step_reporter(say, count, config.budget, best))
    records = sorted(_finished(study), key=lambda r: r["number"])
    say(len(records), config.budget, _best_text(records))
    return finish(records, config, folder)


def finish(
    records: list[dict[str, Any]],
    config: SearchConfig,
    folder: Path,
    baselines: list[dict[str, Any]] | None = None,
) -> SearchResult:
    """Front, chosen trial, exported artifacts, ``search.json`` and ``search.html`` from trial records."""
    from edgekit.autocompress.report import write_search_report

    complete = [r for r in records if r["state"] == "complete"]
    front = pareto_front(complete, config.objectives)
    chosen = choose(complete, config.min_accuracy, config.max_latency_ms)
    result = SearchResult(folder, config.study, config.to_dict(), records, front, chosen)
    if chosen is not None:
        result.artifacts = _export_chosen(chosen, folder)
    result.report = write_search_report(result, folder / "search.html", baselines)
    write_text_atomic(folder / "search.json", json.dumps(result.to_dict(), indent=1, default=str))
    if chosen is None and (config.min_accuracy is not None or config.max_latency_ms is not None):
        want = " and ".join(
            s
            for s in (
                None if config.min_accuracy is None else f"accuracy >= {config.min_accuracy:.2%}",
                None if config.max_latency_ms is None else f"p50 latency <= {config.max_latency_ms} ms",
            )
            if s
        )
        if complete:
            near = closest(complete, config.min_accuracy, config.max_latency_ms)
            best = (
                f"the closest was trial {near['number']}: accuracy {near['accuracy']:.2%}, "
                f"p50 {near['p50_ms']:.4g} ms"
            )
        else:
            best = "no trial completed"
        raise ConstraintError(
            f"no trial met {want} in {len(records)} trials on {config.target}; {best}. Relax the constraint, "
            f"widen the search space or raise the budget (report: {result.report})",
            result,
        )
    return result
