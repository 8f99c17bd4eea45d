"""Every ```python block of README.md and docs/*.md runs.

The blocks of one page run in order in one fresh namespace, as a reader would
type them into one Python session: one test per page. A page added to docs/
is covered without touching this file.

To keep a block out (say, one that needs a display or a long download), put the
HTML comment ``<!-- no-test -->`` on the line just before its opening fence:

    <!-- no-test -->
    ```python
    plt.show()
    ```

Blocks in any other language (```bash, ```text) never run. A page that needs an
optional extra (matplotlib, torch, ...) that is not installed is skipped from
that block on, so the README's test command passes without the extras.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
OPT_OUT = "<!-- no-test -->"
# pages may use the optional extras; without them the rest of the page is skipped, not failed
OPTIONAL_PACKAGES = {"torch", "matplotlib", "tqdm", "hafez", "grandalf", "cairosvg"}
FENCE = re.compile(r"^(\s*)```\s*python\s*$")


def python_blocks(text: str) -> list:
    """The ```python blocks of a markdown text as (first line number, code), opt-outs left out."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent = len(opening.group(1))
        start = i + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise ValueError(f"line {i + 1}: a ```python block is never closed")
        skipped = i > 0 and lines[i - 1].strip() == OPT_OUT
        if not skipped:
            code = "\n".join(line[indent:] for line in lines[start:end])
            blocks.append((start + 1, code))
        i = end + 1
    return blocks


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files an example writes land in a scratch directory
    namespace = {"__name__": f"docs_{page.stem}"}
    for line, code in python_blocks(page.read_text(encoding="utf-8")):
        # the file name and line number in a traceback point into the markdown page
        try:
            exec(compile("\n" * (line - 1) + code, str(page), "exec"), namespace)
        except ModuleNotFoundError as err:
            if err.name not in OPTIONAL_PACKAGES:
                raise
            pytest.skip(f"{page.name} line {line} needs {err.name}, an optional extra")


def test_readme_and_docs_are_found():
    assert ROOT / "README.md" in PAGES
    assert ROOT / "docs" / "testing.md" in PAGES
    assert python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))


def test_blocks_are_extracted_in_order_and_opt_outs_skipped():
    text = "\n".join([
        "# page", "```python", "a = 1", "```", "text",
        "<!-- no-test -->", "```python", "raise SystemExit", "```",
        "```bash", "rm -rf /", "```",
        "```python", "b = a + 1", "", "c = b", "```",
    ])
    assert python_blocks(text) == [(3, "a = 1"), (14, "b = a + 1\n\nc = b")]


def test_an_unclosed_block_is_an_error():
    with pytest.raises(ValueError, match="never closed"):
        python_blocks("```python\nx = 1\n")
