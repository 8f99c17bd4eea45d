"""HTML for the rich display of the reports in Jupyter (their ``_repr_html_``).

``compare_grads``' result, ``gradcheck``'s and ``gradcheck_layer``'s reports, gate
traces and per-step gradients show as tables in a notebook. They all build their
HTML from the few pieces here, so that every one of them:

- escapes everything it is given (a gradient named ``<b>`` shows as text);
- uses inline CSS only: no script, no stylesheet, nothing fetched from a network,
  so a notebook's saved output looks the same anywhere;
- is well-formed XML (every tag closed, attributes quoted), so tests can parse it;
- writes Persian right to left (``dir="rtl"`` on the block) while numbers, names
  and code stay left to right (``dir="ltr"`` on their cells).

The words (headers, verdicts, diagnoses, gate labels) come from the one table of
texts in ``tour_text.py``, in English or Persian: ``html(lang=...)`` on each report,
or ``set_language("fa")`` for what ``_repr_html_`` shows.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from .arguments import one_of
from .tour_text import LANGUAGES, text

__all__ = ["set_language", "language", "escape", "Num", "Code", "Bad", "table", "block",
           "paragraph", "words"]

_language = ["en"]   # what _repr_html_ uses (a list: set without a global statement)


def set_language(lang: str) -> None:
    """Set the language of the rich display (``_repr_html_``): "en" (default) or "fa".

    ``str()`` stays English whatever is set; ``text(lang)`` and ``html(lang)`` on each
    report choose per call.
    """
    _language[0] = one_of("set_language", "lang", lang, LANGUAGES)


def language(lang: str | None = None, where: str = "html") -> str:
    """``lang`` checked (``where`` names the caller in the error), or the language set
    by ``set_language`` when it is None."""
    if lang is None:
        return _language[0]
    return one_of(where, "lang", lang, LANGUAGES)


def words(key: str, lang: str, **values: object) -> str:
    """The text ``key`` of ``tour_text.TEXT`` in ``lang``, formatted with ``values``."""
    return text(key, lang, **values)


def escape(value: object) -> str:
    """``str(value)`` with &, <, >, " and ' escaped: safe in text and in attributes."""
    return html.escape(str(value), quote=True)


class Num(str):
    """A number already formatted: right-aligned, always left to right."""


class Code(str):
    """A name or a piece of code: monospace, always left to right."""


class Bad(str):
    """A verdict that says something is wrong: marked in red."""


_TABLE = "border-collapse:collapse;font-family:monospace;font-size:12px;margin:4px 0"
_CELL = "border:1px solid #d0d0d0;padding:2px 6px;vertical-align:top"
_HEAD = _CELL + ";background:#f2f2f2;font-weight:bold"
_BAD_ROW = "background:#fde8e8"
_BAD = "color:#b00020;font-weight:bold"
_GOOD = "color:#1b5e20"


def _cell(value: object, tag: str = "td") -> str:
    if isinstance(value, Num):
        return f'<{tag} style="{_CELL};text-align:right" dir="ltr">{escape(value)}</{tag}>'
    if isinstance(value, Code):
        return f'<{tag} style="{_CELL}" dir="ltr"><code>{escape(value)}</code></{tag}>'
    if isinstance(value, Bad):
        return f'<{tag} style="{_CELL};{_BAD}">{escape(value)}</{tag}>'
    return f'<{tag} style="{_CELL}">{escape(value)}</{tag}>'


def table(headers: Sequence[str], rows: Iterable[Sequence[object]],
          bad: Sequence[bool] = (), caption: str | None = None) -> str:
    """An HTML table: ``headers`` (text), then one line per row of cells (text, or
    ``Num``, ``Code``, ``Bad``); the rows where ``bad[i]`` is true are shaded."""
    head = "".join(f'<th style="{_HEAD}">{escape(h)}</th>' for h in headers)
    body = []
    for i, row in enumerate(rows):
        style = f' style="{_BAD_ROW}"' if i < len(bad) and bad[i] else ""
        body.append(f"<tr{style}>" + "".join(_cell(v) for v in row) + "</tr>")
    top = f'<caption style="text-align:start;font-weight:bold">{escape(caption)}</caption>' \
        if caption else ""
    return (f'<table style="{_TABLE}">{top}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def paragraph(words_: str, good: bool | None = None, bold: bool = False) -> str:
    """One line of text; ``good`` False marks it as a failure, True as a pass."""
    style = "margin:4px 0"
    if good is not None:
        style += ";" + (_GOOD if good else _BAD)
    if bold and good is not False:   # (a failure is bold already)
        style += ";font-weight:bold"
    return f'<p style="{style}">{escape(words_)}</p>'


def block(parts: Iterable[str], lang: str) -> str:
    """The report's HTML pieces in one block, right to left for Persian."""
    direction = "rtl" if lang == "fa" else "ltr"
    return (f'<div class="tinygrad-rnn" lang="{lang}" dir="{direction}" '
            f'style="font-family:sans-serif;font-size:13px">{"".join(parts)}</div>')
