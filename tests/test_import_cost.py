"""`import edgekit.runtime` and `edgekit profile` pull in no torch / tensorflow / onnx.

Runs in fresh interpreters: one that checks sys.modules after real work, and one where torch,
tensorflow and onnx cannot be imported at all (a meta-path blocker), as on a device with only numpy and
one runtime installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "tensorflow", "onnx", "onnxscript", "keras", "torchvision")

BLOCKER = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError(f'{{name}} is not installed on this device')
sys.meta_path.insert(0, Block())
"""


def _run(code: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_edgekit_and_runtime_load_nothing_heavy() -> None:
    loaded = _run(
        "import json, sys, edgekit, edgekit.runtime\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    assert loaded == []


def test_runtime_runs_both_formats_without_torch_or_tensorflow(onnx_file: Path, tflite_file: Path) -> None:
    code = BLOCKER.format(blocked=set(HEAVY)) + (
        "import json, numpy as np\n"
        "from edgekit.runtime import Model\n"
        "res = {}\n"
        f"for p in ({str(onnx_file)!r}, {str(tflite_file)!r}):\n"
        "    m = Model.load(p)\n"
        "    res[m.backend] = list(m(np.zeros((1, 1, 8, 8), np.float32)).shape)\n"
        "    m.benchmark(runs=2, warmup=0)\n"
        "print(json.dumps(res))"
    )
    assert _run(code) == {"onnxruntime": [1, 10], "litert": [1, 10]}


def test_profile_cli_imports_nothing_heavy(tflite_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    code = BLOCKER.format(blocked=set(HEAVY)) + (
        "import json, sys\nfrom edgekit.cli.main import main\n"
        f"rc = main(['profile', {str(tflite_file)!r}, '--runs', '3', '--quiet', '--json', {str(out)!r}])\n"
        f"print(json.dumps({{'rc': rc, 'heavy': sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})}}))"
    )
    assert _run(code) == {"rc": 0, "heavy": []}
    assert json.loads(out.read_text())["runs"] == 3
