"""The notebooks of notebooks/: stored without outputs, in sync with their percent
scripts, rendered into docs/notebooks/, and executed, their key results checked.

Executing needs the ``notebooks`` extra (nbclient, ipykernel, nbformat, jupytext) and
the ``graphs`` one (grandalf, for the pictures); without them those tests skip. Each
notebook's last cell asserts on its own results and prints them as JSON (the line
``notebook results: {...}``); the tests below read that line back and check the
numbers against values derived here, independently of the notebook's code.
"""

import importlib.util
import json
import re
from functools import cache
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("render_notebooks",
                                               ROOT / "tools" / "render_notebooks.py")
render_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(render_notebooks)

SCRIPTS = render_notebooks.sources()
STEMS = [s.stem for s in SCRIPTS]
EXPECTED = ["01_reverse_mode", "02_seed_notebook", "03_bptt", "04_hand_vs_autograd",
            "05_your_own_cell"]


def _needs(*modules):
    for name in modules:
        pytest.importorskip(name)


@cache
def executed(stem):
    """The notebook ``stem``, run once per test session (nbclient), with its outputs."""
    _needs("nbclient", "ipykernel", "nbformat", "jupytext", "grandalf")
    return render_notebooks.execute(ROOT / "notebooks" / f"{stem}.ipynb")


def results(stem):
    return render_notebooks.results(executed(stem))


def test_every_notebook_is_there():
    assert EXPECTED[:len(STEMS)] == STEMS and len(STEMS) >= 1, STEMS
    for script in SCRIPTS:
        assert script.with_suffix(".ipynb").exists(), f"{script.name} has no .ipynb"


@pytest.mark.parametrize("stem", STEMS)
def test_stored_without_outputs(stem):
    nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, \
                f"{stem}.ipynb stores outputs: clear them (python tools/render_notebooks.py --sync)"


@pytest.mark.parametrize("stem", STEMS)
def test_ipynb_in_sync_with_its_script(stem):
    _needs("nbformat", "jupytext")
    import nbformat

    script = ROOT / "notebooks" / f"{stem}.py"
    stored = (ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8")
    made = nbformat.writes(render_notebooks.notebook_of(script)) + "\n"
    assert stored == made, f"{stem}.ipynb differs from {stem}.py: python tools/render_notebooks.py"


def _code_blocks(markdown):
    return re.findall(r"^```python\n(.*?)\n```$", markdown, flags=re.S | re.M)


@pytest.mark.parametrize("stem", STEMS)
def test_rendered_page_is_current(stem):
    """docs/notebooks/<stem>.md exists, shows the notebook's current code, and every
    picture it links is there (outputs themselves vary: timings)."""
    _needs("jupytext")
    page = ROOT / "docs" / "notebooks" / f"{stem}.md"
    assert page.exists(), f"no {page.name}: python tools/render_notebooks.py"
    text = page.read_text(encoding="utf-8")
    code = [c.source for c in render_notebooks.notebook_of(ROOT / "notebooks" / f"{stem}.py").cells
            if c.cell_type == "code"]
    assert _code_blocks(text) == code, f"{page.name} is stale: python tools/render_notebooks.py"
    assert "```text\nnotebook results: {" in text          # it was rendered after a full run
    for link in re.findall(r"\]\((img/[^)]+)\)", text):
        assert (page.parent / link).stat().st_size > 500, link
    assert f"notebooks/{stem}.md" in (ROOT / "docs" / "notebook.md").read_text(encoding="utf-8")


def test_results_line_is_found_and_checked():
    """The results reader fails on a notebook that printed none (so the checks below can)."""
    _needs("nbformat")
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    with pytest.raises(ValueError, match="notebook results"):
        render_notebooks.results(nb)


# --------------------------------------------------------------------------- each notebook


def test_01_reverse_mode():
    r = results("01_reverse_mode")
    a, b, c, w = (r["inputs"][k] for k in "abcw")
    t = np.tanh(a * b + c)
    assert r["inputs"] == {"a": 0.5, "b": -1.5, "c": 1.0, "w": -2.0}
    assert np.isclose(r["L"], w * t, rtol=1e-14)
    dd = w * (1 - t**2)              # dL/dd, the chain rule through w * tanh(d)
    expected = {"a": dd * b, "b": dd * a, "c": dd, "w": t}
    for name, value in expected.items():
        assert np.isclose(r["grads"][name], value, rtol=1e-12), name
    assert r["frames"] == 4          # L = w * t, t = tanh(d), d = e + c, e = a * b
