"""datanexus.pipeline is a platform module: it never imports Bytewax, the stream
operators or the connectors (DESIGN §1), even when specs are loaded and compiled."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_pipeline_imports_no_bytewax():
    code = (
        "import sys\n"
        "from datanexus.pipeline import load_spec, preview\n"
        "for n in ('web', 'payments', 'iot'):\n"
        "    spec = load_spec(f'pipelines/{n}.toml')\n"
        "    spec.compile().process([], now_ms=0)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'bytewax'\n"
        "       or m.startswith(('datanexus.stream', 'datanexus.connectors'))]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert result.stdout.strip() == ""
