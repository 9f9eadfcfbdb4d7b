"""ek.search end to end on real digits: real chain, real .tflite files, real profiling, real SQLite study.

The studies of this module share one output folder (different study names), so later tests reuse the
chain prefixes cached by earlier ones, which is itself under test. Tests that run several trials take
minutes on 2 shared cores and are marked slow; the default run keeps a one-trial search and the checks
that fail before any trial.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edgekit as ek
from edgekit.errors import ConstraintError, SearchError, SearchSpaceError, SearchStorageError


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("search")


@pytest.fixture(scope="module")
def first(base: Any, digits: Any, folder: Path, helper: Any) -> Any:
    seen: list[tuple[int, int, str]] = []
    result = ek.search(
        base[0],
        digits,
        helper.SPACE,
        {**helper.CONFIG, "study": "first"},
        out=folder,
        budget=4,
        progress=lambda done, total, message: seen.append((done, total, message)),
    )
    result.progress = seen
    return result


@pytest.mark.slow
def test_trials_run_the_real_chain_and_record_measurements(first: Any, digits: Any) -> None:
    from edgekit.runtime import Model

    assert [t["number"] for t in first.trials] == [0, 1, 2, 3]
    assert all(t["state"] == "complete" for t in first.trials), [t.get("error") for t in first.trials]
    for t in first.trials:
        assert 0.0 <= t["accuracy"] <= 1.0 and 0 < t["p50_ms"] <= t["p90_ms"]
        if t["params"]["quant"] == "float":  # a float file gives the torch model's answers
            assert t["accuracy"] == pytest.approx(t["accuracy_torch"], abs=0.005)
        assert t["size_bytes"] == Path(t["tflite"]).stat().st_size and t["peak_memory_mb"] > 0
        quantized = t["params"]["quant"] != "float"
        assert Model.load(t["tflite"]).inputs[0].file_dtype == (np.int8 if quantized else np.float32)
    # the accuracy is the exported file's, measured on the held-out split
    t = first.trials[0]
    logits = Model.load(t["tflite"])(digits.x_test)
    assert float((logits.argmax(1) == digits.y_test).mean()) == pytest.approx(t["accuracy"])


@pytest.mark.slow
def test_front_report_artifacts_and_progress(first: Any, folder: Path) -> None:
    front = first.front
    assert front and all(f in first.complete for f in front)
    for f in front:  # nothing in the study dominates a front point
        assert not any(
            t["accuracy"] >= f["accuracy"]
            and t["p50_ms"] <= f["p50_ms"]
            and (t["accuracy"] > f["accuracy"] or t["p50_ms"] < f["p50_ms"])
            for t in first.complete
        )
    assert first.chosen == max(first.complete, key=lambda t: (t["accuracy"], -t["p50_ms"]))
    best = folder / "best.tflite"
    assert best.read_bytes() == Path(first.chosen["tflite"]).read_bytes()
    html = (folder / "search.html").read_text()
    assert "data:image/png;base64," in html and "Pareto front" in html and "Chosen trial" in html
    saved = json.loads((folder / "search.json").read_text())
    assert len(saved["trials"]) == 4 and saved["chosen"]["number"] == first.chosen["number"]
    assert sorted(p.name for p in (folder / "trials").iterdir()) == [f"trial-{i:04d}.json" for i in range(4)]
    assert first.progress[-1][:2] == (4, 4) and "best" in first.progress[-1][2]


@pytest.mark.slow
def test_matching_chain_prefixes_are_reused(
    base: Any, digits: Any, folder: Path, helper: Any, first: Any
) -> None:
    again = ek.search(
        base[0], digits, helper.SPACE, {**helper.CONFIG, "study": "again"}, out=folder, budget=2
    )
    # same seed, same space: the sampler proposes the same first trials, whose files already exist
    for new, old in zip(again.trials, first.trials[:2], strict=True):
        assert new["params"] == old["params"]
        assert new["reused"] == ["compress", "export"] and new["tflite"] == old["tflite"]


@pytest.mark.slow
def test_existing_study_needs_resume(base: Any, digits: Any, folder: Path, helper: Any, first: Any) -> None:
    with pytest.raises(SearchError, match="resume"):
        ek.search(base[0], digits, helper.SPACE, {**helper.CONFIG, "study": "first"}, out=folder, budget=5)
    resumed = ek.search(
        base[0], digits, helper.SPACE, {**helper.CONFIG, "study": "first"}, out=folder, budget=5, resume=True
    )
    assert [t["number"] for t in resumed.trials] == [0, 1, 2, 3, 4]
    assert resumed.trials[:4] == first.trials  # finished trials are kept, not redone


def test_crashing_trials_are_recorded_and_not_fatal(
    base: Any, digits: Any, folder: Path, helper: Any
) -> None:
    space = {**helper.SPACE, "resolution": [2]}  # 2x2 inputs: the second max-pool gets an empty map
    result = ek.search(base[0], digits, space, {**helper.CONFIG, "study": "crash"}, out=folder, budget=2)
    assert [t["state"] for t in result.trials] == ["failed", "failed"]
    assert all("RuntimeError" in t["error"] and t["params"]["resolution"] == 2 for t in result.trials)
    assert result.chosen is None and "Failed trials" in (folder / "search.html").read_text()


def test_unreachable_device_fails_the_trial_with_its_cause(
    base: Any, digits: Any, folder: Path, helper: Any
) -> None:
    target = f"ssh://nobody@127.0.0.1:{helper.free_port()}"  # nothing listens there
    space = {**helper.SPACE, "prune_ratio": [0.0, 0.0], "quant": ["float"]}
    result = ek.search(
        base[0], digits, space, {**helper.CONFIG, "study": "offline"}, out=folder, budget=2, target=target
    )
    assert [t["state"] for t in result.trials] == ["failed", "failed"]  # the search went on after the first
    assert all(t["error"].startswith("DeviceConnectionError") for t in result.trials), result.trials[0][
        "error"
    ]


@pytest.mark.slow
def test_impossible_constraint_names_the_best_found(
    base: Any, digits: Any, folder: Path, helper: Any
) -> None:
    with pytest.raises(ConstraintError) as info:
        ek.search(
            base[0],
            digits,
            helper.SPACE,
            {**helper.CONFIG, "study": "strict"},
            out=folder,
            budget=2,
            min_accuracy=1.0,
        )
    message = str(info.value)
    assert "no trial met accuracy >= 100.00%" in message and "the closest was trial" in message
    assert info.value.result.report.is_file() and len(info.value.result.complete) == 2


@pytest.mark.slow
def test_constraint_modes_pick_from_the_study(first: Any) -> None:
    from edgekit.autocompress.pareto import choose

    accs = sorted(t["accuracy"] for t in first.complete)
    fastest_ok = choose(first.complete, accs[1], None)
    assert fastest_ok["p50_ms"] == min(t["p50_ms"] for t in first.complete if t["accuracy"] >= accs[1])
    limit = sorted(t["p50_ms"] for t in first.complete)[1]
    accurate = choose(first.complete, None, limit)
    assert accurate["accuracy"] == max(t["accuracy"] for t in first.complete if t["p50_ms"] <= limit)


def test_unreachable_postgresql_is_a_clear_error_and_writes_nothing(
    base: Any, digits: Any, tmp_path: Path, helper: Any
) -> None:
    out = tmp_path / "never"
    url = f"postgresql://edgekit@127.0.0.1:{helper.free_port()}/study"
    with pytest.raises(
        SearchStorageError, match=r"cannot reach the PostgreSQL storage postgresql://edgekit@127\.0\.0\.1"
    ):
        ek.search(base[0], digits, helper.SPACE, out=out, budget=1, storage=url)
    assert not out.exists()


def test_invalid_space_fails_before_any_work(base: Any, digits: Any, tmp_path: Path) -> None:
    with pytest.raises(SearchSpaceError, match="importance"):
        ek.search(base[0], digits, {"importance": ["best"]}, out=tmp_path / "x", budget=1)
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_search_profiles_on_an_ssh_target(base: Any, digits: Any, tmp_path: Path, helper: Any) -> None:

    from edgekit.devices.loopback import loopback_sshd, sshd_binary

    if sshd_binary() is None:
        pytest.skip("OpenSSH server not installed (scripts/install-sysdeps.sh installs openssh-server)")
    space = {**helper.SPACE, "prune_ratio": [0.0, 0.0]}
    (tmp_path / "sshd").mkdir()
    with loopback_sshd(tmp_path / "sshd") as server:
        result = helper.ssh_search(server, base[0], digits, space, "ssh", tmp_path / "out", budget=2)
    assert [t["state"] for t in result.trials] == ["complete", "complete"], [
        t["error"] for t in result.trials
    ]
    assert all(t["p50_ms"] > 0 and t["peak_memory_mb"] > 0 for t in result.trials)
    assert result.config["target"] == server.uri
