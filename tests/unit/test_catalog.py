"""The catalog: each entry's config model is its handler's, and reading it stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mhi.catalog import BY_TYPE, CATALOG, StepType, config_model, load_kind


@pytest.mark.parametrize("entry", CATALOG, ids=lambda e: e.type)
def test_declared_config_model_is_the_handlers(entry: StepType) -> None:
    assert load_kind(entry.type).config_model is config_model(entry.type)
    assert load_kind(entry.type).type == entry.type


def test_unknown_type_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        config_model("ms-nope")
    assert "ms-nope" not in BY_TYPE


def test_config_models_load_without_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from mhi.catalog import CATALOG, config_model\n"
        "for e in CATALOG: config_model(e.type)\n"
        "heavy = ('pandas', 'numpy', 'statsmodels', 'duckdb', 'scipy', 'matplotlib', 'pyarrow')\n"
        "loaded = [m for m in sys.modules\n"
        "          if m.split('.')[0] in heavy or m.startswith('google.cloud.')]\n"
        "print(','.join(sorted(loaded)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
