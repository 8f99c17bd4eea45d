"""Build, run and render the notebooks of notebooks/.

Each notebook is written as a jupytext "percent" script (notebooks/NN_name.py, the
source to edit and review) and stored beside it as notebooks/NN_name.ipynb without
outputs (the file Jupyter opens). This script:

    python tools/render_notebooks.py            # .py -> .ipynb, run each, write docs/notebooks/
    python tools/render_notebooks.py --run      # only run each notebook (and time it)
    python tools/render_notebooks.py --sync     # only write the .ipynb files from the .py

Running needs the ``notebooks`` extra (``pip install -e ".[notebooks]"``). The kernel
is this very interpreter (a kernel spec made on the fly), so no Jupyter kernel has to
be installed. tests/test_notebooks.py imports this file.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
RENDERED = ROOT / "docs" / "notebooks"
KERNEL_NAME = "tinygrad-rnn-notebooks"
# a notebook's last code cell prints this prefix and then its key results as JSON
RESULTS_PREFIX = "notebook results: "
TIMEOUT = 120  # seconds per cell


def sources() -> list[Path]:
    """The notebooks' percent scripts, in order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def notebook_of(script: Path) -> Any:
    """The notebook a percent script stands for, without outputs (an nbformat node)."""
    import jupytext

    nb = jupytext.read(script)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    nb.metadata.get("jupytext", {}).pop("text_representation", None)
    for number, cell in enumerate(nb.cells):
        cell.id = f"cell-{number:02d}"  # the same ids every time, so the .ipynb is stable
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def sync() -> list[Path]:
    """Write notebooks/NN_name.ipynb from each NN_name.py; return the files written."""
    import nbformat

    written = []
    for script in sources():
        path = script.with_suffix(".ipynb")
        text = nbformat.writes(notebook_of(script)) + "\n"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def _kernel_dir() -> str:
    """A Jupyter data directory holding a kernel spec that runs this interpreter."""
    data = Path(tempfile.mkdtemp(prefix="tinygrad-rnn-kernel-"))
    spec = data / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (tinygrad-rnn)", "language": "python"}))
    return str(data)


def execute(path: Path, cwd: str | os.PathLike[str] | None = None) -> Any:
    """Run the notebook at ``path`` (a .ipynb) in a fresh kernel; return it with outputs.

    The kernel is this interpreter and inherits the environment (PYTHONPATH too);
    ``cwd`` is where it runs (a new temporary directory by default), so files a
    notebook writes land there. A failing cell raises nbclient's CellExecutionError.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    previous = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [_kernel_dir(), previous]))
    try:
        with tempfile.TemporaryDirectory(prefix="tinygrad-rnn-nb-") as scratch:
            client = NotebookClient(nb, timeout=TIMEOUT, kernel_name=KERNEL_NAME,
                                    resources={"metadata": {"path": str(cwd or scratch)}})
            client.execute()
    finally:
        if previous is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = previous
    return nb


def stream_text(cell: Any) -> str:
    """Everything a code cell printed (stdout and stderr) and its plain-text results."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data") and \
                "text/plain" in out.data and not _image(out) and "text/markdown" not in out.data:
            parts.append(out.data["text/plain"] + "\n")
        elif out.output_type == "error":
            parts.append("\n".join(out.traceback) + "\n")
    return "".join(parts)


def results(nb: Any) -> dict[str, Any]:
    """The key results an executed notebook printed (the line starting RESULTS_PREFIX)."""
    for cell in reversed(nb.cells):
        if cell.cell_type != "code":
            continue
        for line in stream_text(cell).splitlines():
            if line.startswith(RESULTS_PREFIX):
                return json.loads(line[len(RESULTS_PREFIX):])
    raise ValueError(f"the notebook printed no line starting {RESULTS_PREFIX!r}")


def _image(out: Any) -> tuple[str, str] | None:
    """(extension, key) of an output's picture, SVG first; None for text only."""
    data = out.get("data", {})
    for mime, ext in (("image/svg+xml", "svg"), ("image/png", "png")):
        if mime in data:
            return ext, mime
    return None


def to_markdown(nb: Any, stem: str) -> tuple[str, dict[str, bytes]]:
    """An executed notebook as markdown, and its pictures {file name: bytes}.

    Markdown cells as they are, code in ```python blocks, what it printed in ```text
    blocks, pictures as files under img/ linked from the page, markdown it displayed
    (``IPython.display.Markdown``) as part of the page."""
    lines = [f"<!-- made by tools/render_notebooks.py from notebooks/{stem}.py: "
             "do not edit -->", ""]
    pictures: dict[str, bytes] = {}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines += [cell.source, ""]
            continue
        if cell.cell_type != "code":
            continue
        lines += ["```python", cell.source, "```", ""]
        text = ""
        for out in cell.outputs:
            if "text/markdown" in out.get("data", {}):  # Markdown(...): part of the page
                lines += [out.data["text/markdown"], ""]
            image = _image(out)
            if image is None:
                continue
            ext, mime = image
            name = f"{stem}_{len(pictures) + 1}.{ext}"
            raw = out.data[mime]
            pictures[name] = raw.encode() if ext == "svg" else base64.b64decode(raw)
            lines += [f"![output {len(pictures)}](img/{name})", ""]
        text = stream_text(cell).rstrip("\n")
        if text:
            lines += ["```text", text, "```", ""]
    return "\n".join(lines).rstrip("\n") + "\n", pictures


def render(nb: Any, stem: str) -> Path:
    """Write docs/notebooks/<stem>.md and its pictures; return the page's path."""
    page, pictures = to_markdown(nb, stem)
    images = RENDERED / "img"
    images.mkdir(parents=True, exist_ok=True)
    for old in images.glob(f"{stem}_*"):
        old.unlink()
    for name, data in pictures.items():
        (images / name).write_bytes(data)
    path = RENDERED / f"{stem}.md"
    path.write_text(page, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="only run the notebooks")
    parser.add_argument("--sync", action="store_true", help="only write the .ipynb files")
    parser.add_argument("names", nargs="*", help="notebooks to run (default: all)")
    args = parser.parse_args(argv)
    for path in sync():
        print(f"wrote {path.relative_to(ROOT)}")
    if args.sync:
        return 0
    chosen = [s for s in sources() if not args.names or any(n in s.stem for n in args.names)]
    start = time.perf_counter()
    for script in chosen:
        t0 = time.perf_counter()
        nb = execute(script.with_suffix(".ipynb"))
        took = time.perf_counter() - t0
        where = "" if args.run else f" -> {render(nb, script.stem).relative_to(ROOT)}"
        print(f"ran {script.stem} in {took:.1f} s{where}")
    print(f"{len(chosen)} notebooks in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
