"""Importing the framework-free modules must not import torch or tensorflow (checked in a fresh process)."""

import subprocess
import sys

FRAMEWORK_FREE = [
    "segdemo", "segdemo.data", "segdemo.profiles", "segdemo.metrics", "segdemo.plotting", "segdemo.upsampling",
    "segdemo.indices", "segdemo.architecture", "segdemo.results",
]


def test_framework_free_modules_import_no_framework():
    # Touch every lazily exported data name too, so their modules are imported.
    code = (
        "import sys, importlib\n"
        f"for name in {FRAMEWORK_FREE!r}: importlib.import_module(name)\n"
        "import segdemo.data as data\n"
        "for name in data.__all__: getattr(data, name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'tensorflow', 'keras')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "[]", result.stdout
