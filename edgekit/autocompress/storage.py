"""Optuna study storage: an SQLite file in the output folder, or PostgreSQL for many workers.

Also recovers trials of killed workers: a trial records its worker (``host:pid``); a RUNNING trial whose
process is gone on this host is marked FAILED with ``stale=True`` and its parameters are enqueued again, so
no trial is lost, and finished trials are never redone.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edgekit.errors import SearchError, SearchStorageError

log = logging.getLogger(__name__)

WORKER_ATTR = "edgekit_worker"
STALE_ATTR = "edgekit_stale"
RETRY_ATTR = "edgekit_retry_of"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def check_postgres(url: str, timeout_s: int = 5) -> None:
    """Connect once to ``url``; raise :class:`SearchStorageError` naming the server when it fails."""
    try:
        import psycopg2
    except ImportError as exc:
        raise SearchStorageError("PostgreSQL storage needs psycopg2: pip install 'edgekit[search]'") from exc
    dsn = url.replace("postgresql+psycopg2://", "postgresql://", 1)
    try:
        psycopg2.connect(dsn, connect_timeout=timeout_s).close()
    except psycopg2.Error as exc:
        reason = " ".join(str(exc).split())
        raise SearchStorageError(
            f"cannot reach the PostgreSQL storage {_redacted(url)}: {reason}. Start the server, or fix the URL "
            "(postgresql://user:password@host:port/database); nothing was written"
        ) from exc


def storage_url(storage: str | None, folder: Path) -> str:
    """The RDB URL: ``storage`` itself, or an SQLite file ``study.db`` in ``folder``."""
    if storage is None:
        return f"sqlite:///{(folder / 'study.db').resolve()}"
    if storage.startswith("postgresql://"):
        return storage.replace("postgresql://", "postgresql+psycopg2://", 1)
    return storage


def open_study(config: Any, folder: Path, sampler: Any) -> Any:
    """Create or load the study of ``config`` (``config.resume`` must be set to continue an existing one)."""
    import optuna
    from sqlalchemy.exc import IntegrityError, SQLAlchemyError

    if config.storage is not None and config.storage.startswith("postgresql"):
        check_postgres(config.storage)
    folder.mkdir(parents=True, exist_ok=True)
    url = storage_url(config.storage, folder)
    for attempt in range(5):
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
            break
        except IntegrityError:  # another worker is creating the same tables right now: use its schema
            if attempt == 4:
                raise
            time.sleep(0.5 + attempt)
        except (SQLAlchemyError, optuna.exceptions.StorageInternalError) as exc:
            raise SearchStorageError(f"cannot open the study storage {_redacted(url)}: {exc}") from exc
    names = {s.study_name for s in optuna.study.get_all_study_summaries(storage, include_best_trial=False)}
    if config.study in names and not config.resume:
        study = optuna.load_study(study_name=config.study, storage=storage)
        if study.trials:
            raise SearchError(
                f"the study {config.study!r} in {_redacted(url)} already has {len(study.trials)} trials; "
                "resume it (resume=True, `edgekit search --resume`) or choose another output folder / study name"
            )
    study = optuna.create_study(
        study_name=config.study,
        storage=storage,
        sampler=sampler,
        directions=config.directions,
        load_if_exists=True,
    )
    if list(study.directions) != [
        optuna.study.StudyDirection.MAXIMIZE if d == "maximize" else optuna.study.StudyDirection.MINIMIZE
        for d in config.directions
    ]:
        raise SearchError(
            f"the study {config.study!r} was created with other objectives; resume it with the same "
            "objectives or choose another study name"
        )
    return study


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_stale(study: Any) -> list[int]:
    """Fail RUNNING trials whose worker process on this host is gone and enqueue their parameters again."""
    import optuna
    from optuna.trial import TrialState

    host = socket.gethostname()
    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get(WORKER_ATTR, "")
        name, _, pid = worker.rpartition(":")
        if name != host or not pid.isdigit() or _alive(int(pid)):
            continue
        storage = study._storage
        try:
            storage.set_trial_user_attr(trial._trial_id, STALE_ATTR, True)
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker recovered it first
        study.enqueue_trial(trial.params, user_attrs={RETRY_ATTR: trial.number}, skip_if_exists=False)
        recovered.append(trial.number)
        log.warning(
            "trial %d was left RUNNING by a killed worker (%s); its parameters run again",
            trial.number,
            worker,
        )
    return recovered


def counted(trial: Any) -> bool:
    """Whether a trial counts towards the budget (not a stale trial of a killed worker)."""
    from optuna.trial import TrialState

    if trial.state == TrialState.WAITING:
        return False
    return not trial.user_attrs.get(STALE_ATTR, False)
