"""Studies survive a killed worker (SQLite) and are shared by worker processes (a real PostgreSQL server).

Workers are real processes (``_helpers.py``); the PostgreSQL server is Debian's, started by the test on
127.0.0.1 in a temporary folder (as the ``postgres`` user when the tests run as root).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HELPER = Path(__file__).with_name("_helpers.py")


def _worker(out: Path, budget: int, state_dict: Path, storage: str | None = None) -> subprocess.Popen:
    args = [sys.executable, str(HELPER), str(out), str(budget), str(state_dict)] + (
        [storage] if storage else []
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((out / "trials").glob("trial-*.json"))]


def _check_nothing_lost_or_repeated(study: Any, out: Path, budget: int, extra: int = 0) -> list[Any]:
    from optuna.trial import TrialState

    from edgekit.autocompress.storage import RETRY_ATTR, STALE_ATTR

    trials = study.get_trials(deepcopy=False)
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    stale = [t for t in trials if t.user_attrs.get(STALE_ATTR)]
    counted = [t for t in trials if not t.user_attrs.get(STALE_ATTR)]
    assert all(t.state == TrialState.COMPLETE for t in counted), [t.user_attrs.get("error") for t in counted]
    assert budget <= len(counted) <= budget + extra
    for t in stale:  # a killed trial ran again with the same parameters
        retries = [r for r in counted if r.user_attrs.get(RETRY_ATTR) == t.number]
        assert len(retries) == 1 and retries[0].params == t.params
    records = _records(out)
    numbers = [r["number"] for r in records]
    assert len(numbers) == len(set(numbers))  # no trial recorded twice
    assert set(numbers) == {t.number for t in counted}  # every finished trial recorded
    return stale


@pytest.mark.slow
def test_killed_search_resumes_without_losing_or_repeating_trials(
    base: Any, digits: Any, tmp_path: Path, helper: Any
) -> None:
    import optuna

    import edgekit as ek
    from edgekit.autocompress.storage import STALE_ATTR

    out = tmp_path / "study"
    proc = _worker(out, 4, base[1])
    deadline = time.monotonic() + 240
    while not list((out / "trials").glob("trial-*.json")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.2)
    time.sleep(1.0)  # the next trial is running now
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    storage = f"sqlite:///{out / 'study.db'}"
    before = optuna.load_study(study_name="test", storage=storage).get_trials(deepcopy=False)
    finished_before = {t.number: t.params for t in before if t.state == optuna.trial.TrialState.COMPLETE}
    assert finished_before and any(t.state == optuna.trial.TrialState.RUNNING for t in before)

    result = ek.search(base[0], digits, helper.SPACE, helper.CONFIG, out=out, budget=4, resume=True)

    study = optuna.load_study(study_name="test", storage=storage)
    stale = _check_nothing_lost_or_repeated(study, out, 4)
    assert stale and all(t.user_attrs.get(STALE_ATTR) for t in stale)
    after = {t["number"]: t["params"] for t in result.trials}
    assert len(result.trials) == 4
    for number in finished_before:  # trials finished before the kill were kept, not redone
        assert number in after


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A real PostgreSQL server on 127.0.0.1 (free port, trust auth, data in a temp folder); yields its URL."""
    from edgekit.autocompress.pgserver import local_postgres, server_binary

    if server_binary("initdb") is None or server_binary("postgres") is None:
        pytest.skip(
            "PostgreSQL server binaries not installed (scripts/install-sysdeps.sh installs postgresql)"
        )
    with local_postgres() as url:
        yield url


@pytest.mark.slow
def test_two_workers_share_a_postgresql_study(postgres: str, base: Any, tmp_path: Path) -> None:
    import optuna

    out = tmp_path / "shared"
    workers = [_worker(out, 6, base[1], postgres) for _ in range(2)]
    for proc in workers:
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err[-3000:]
    url = postgres.replace("postgresql://", "postgresql+psycopg2://")
    study = optuna.load_study(study_name="test", storage=url)
    # two workers may both start the last trial when they check the budget at the same moment: <= 1 extra
    _check_nothing_lost_or_repeated(study, out, 6, extra=1)
    assert len({t.user_attrs["edgekit_worker"] for t in study.trials}) == 2  # both workers ran trials
    assert (out / "search.html").is_file() and (out / "best.tflite").is_file()


def test_postgres_server_starts_and_answers(postgres: str) -> None:
    import psycopg2

    with psycopg2.connect(postgres, connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
