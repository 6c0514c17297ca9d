"""The package face: lazy submodules, a light `import csgene`, and the packaging files (issue 18)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import csgene

ROOT = Path(__file__).resolve().parents[1]
#: Modules `import csgene` must not load: the kernels' and learners' heavy dependencies.
HEAVY = ("numba", "torch", "scipy", "sklearn", "h5py", "matplotlib", "pandas", "csgene_kernels")


def _python(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_import_csgene_loads_no_heavy_module():
    loaded = json.loads(_python(
        "import json, sys; import csgene; print(json.dumps(sorted(sys.modules)))"))
    heavy = [name for name in loaded if name.split(".")[0] in HEAVY]
    assert not heavy, f"`import csgene` loaded {heavy[:10]}"
    assert [name for name in loaded if name.startswith("csgene")] == ["csgene", "csgene._version", "csgene.exceptions"]


def test_every_public_submodule_is_an_attribute_after_import_csgene():
    package = ROOT / "csgene"
    public = sorted({p.stem for p in package.glob("*.py")} | {p.parent.name for p in package.glob("*/__init__.py")})
    public = [name for name in public if not name.startswith("_")]
    assert {"io", "metrics", "dictionary", "pipeline", "neural", "cli"} <= set(public)
    assert sorted(name for name in dir(csgene) if name in public) == public
    # in a fresh interpreter, plain attribute access works (no `import csgene.io` first)
    out = _python("import csgene\n"
                  f"for name in {public!r}:\n"
                  "    assert getattr(csgene, name).__name__ == 'csgene.' + name, name\n"
                  "print(csgene.io.read.__name__, csgene.metrics.pearson_sample.__name__)")
    assert out.split() == ["read", "pearson_sample"]


def test_lazy_names_and_unknown_attributes():
    assert csgene.CompressedSensing.__name__ == "CompressedSensing"
    assert csgene.read is csgene.io.read
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        csgene.nonexistent  # noqa: B018
    with pytest.raises(AttributeError):
        csgene._private_thing  # noqa: B018


def test_license_is_mit_as_pyproject_says():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "csgene developers" in text
    assert 'license = { text = "MIT" }' in (ROOT / "pyproject.toml").read_text()


def test_citation_cff_cites_the_software_and_both_papers():
    text = (ROOT / "CITATION.cff").read_text()
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load(text)
    assert cff["cff-version"].startswith("1.2") and cff["type"] == "software"
    assert cff["version"] == csgene.__version__ and cff["license"] == "MIT"
    refs = {ref["title"]: ref for ref in cff["references"]}
    cleary = next(ref for title, ref in refs.items() if "Random Composite Measurements" in title)
    assert cleary["doi"] == "10.1016/j.cell.2017.10.023" and cleary["volume"] == 171 and cleary["start"] == 1424
    assert cleary["authors"][0]["family-names"] == "Cleary" and cleary["year"] == 2017
    bora = refs["Compressed Sensing using Generative Models"]
    assert bora["authors"][0]["family-names"] == "Bora" and "ICML" in bora["conference"]["name"]


def test_py_typed_ships_with_the_package():
    assert (ROOT / "csgene" / "py.typed").exists()
    assert re.search(r'\[tool\.setuptools\.package-data\]\s*csgene = \["py\.typed"\]',
                     (ROOT / "pyproject.toml").read_text())


def test_changelog_names_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog") and f"## {csgene.__version__}" in text and "## Unreleased" in text


def test_api_reference_builds_from_the_docstrings(tmp_path):
    missing = [name for name in ("sphinx", "numpydoc") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed: pip install -e '.[docs]' to build the API reference")
    out = tmp_path / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-d", str(tmp_path / "doctrees"),
                           str(ROOT / "docs"), str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if "ERROR" in line]
    assert not errors, errors[:10]
    cs = (out / "generated" / "csgene.pipeline.CompressedSensing.html").read_text()
    assert "gene_names" in cs and "get_feature_names_out" in cs  # numpydoc sections rendered
    assert 'id="csgene.io.read"' in (out / "generated" / "csgene.io.html").read_text()
    assert 'id="csgene.dictionary.SMAF"' in (out / "generated" / "csgene.dictionary.SMAF.html").read_text()
