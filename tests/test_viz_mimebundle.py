"""A graph's Picture (and a backward frame) offers Jupyter a mime bundle: its SVG, a PNG
for front ends that draw no SVG (when cairosvg and cairo are installed), and its repr."""

import base64
import struct
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tinygrad_rnn import Tensor, viz

pytest.importorskip("grandalf", reason="the graphs extra (grandalf) is not installed")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def picture():
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True, name="x")
    return viz.graph((x * x).tanh().sum(), values=True)


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from the PNG's IHDR chunk (the PNG format's own layout)."""
    assert png[:8] == PNG_MAGIC and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_the_bundle_has_the_svg_the_repr_and_a_png_of_the_svgs_size():
    pytest.importorskip("cairosvg")
    p = picture()
    bundle = p._repr_mimebundle_()
    assert bundle["image/svg+xml"] == p.svg() == p._repr_svg_()
    assert bundle["text/plain"] == repr(p)
    root = ET.fromstring(bundle["image/svg+xml"])
    width, height = (float(root.get(k)) for k in ("width", "height"))
    png = base64.b64decode(bundle["image/png"], validate=True)
    w, h = png_size(png)
    assert abs(w - width) <= 2 and abs(h - height) <= 2   # drawn at the SVG's own size


def test_include_and_exclude_choose_the_mime_types():
    p = picture()
    assert set(p._repr_mimebundle_(include=["image/svg+xml"])) == {"image/svg+xml"}
    kept = p._repr_mimebundle_(exclude=["image/png", "text/plain"])
    assert set(kept) == {"image/svg+xml"}


def test_without_cairosvg_the_bundle_is_the_svg_alone(monkeypatch):
    monkeypatch.setitem(sys.modules, "cairosvg", None)   # import cairosvg now fails
    bundle = picture()._repr_mimebundle_()
    assert set(bundle) == {"image/svg+xml", "text/plain"}


def test_a_backward_frame_offers_its_picture_with_its_text():
    x = Tensor(np.array(0.3), requires_grad=True, name="x")
    frames = list(viz.backward_steps((x * x).tanh()))
    bundle = frames[0]._repr_mimebundle_(exclude=["image/png"])
    assert bundle["image/svg+xml"] == frames[0].picture().svg()
    assert bundle["text/plain"] == frames[0].text()
