"""viz.to_html: the offline explorer. Without a browser: one self-contained file, sound
HTML, every step embedded, names kept as text, bad arguments refused. In a real headless
Chromium (the system's, installed by .ci/run; skipped when absent): the page runs without
errors, ``#step=k`` and the buttons, keys and slider show step k, and a screenshot is not
blank. The expected numbers come from ``loss.backward()`` and from the frames of
``viz.backward_steps``, never from the page itself."""

import html
import json
import os
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, nn, viz
from tinygrad_rnn.tour_text import in_language
from tinygrad_rnn.viz import summary
from tinygrad_rnn.viz_html import explorer_html

pytest.importorskip("grandalf", reason="the graphs extra (grandalf) is not installed")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# without the background-networking flags Chromium tries to reach the (closed) network
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def neuron():
    """micrograd's neuron: o = tanh(x1 w1 + x2 w2 + b), o = 1/sqrt(2)."""
    values = {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8813735870195432}
    leaves = {k: Tensor(v, requires_grad=True, name=k) for k, v in values.items()}
    n = leaves["x1"] * leaves["w1"] + leaves["x2"] * leaves["w2"] + leaves["b"]
    n.name = "n"
    o = n.tanh()
    o.name = "o"
    return leaves, o


def page_data(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>',
                      page, re.S)
    assert match is not None
    return json.loads(match.group(1))


def grads_at(data: dict, k: int) -> dict:
    """The gradient text of each slot after step k, from the page's steps (as its script
    does it, here in Python)."""
    grads: dict = {}
    for step in data["steps"][: k + 1]:
        grads.update(step["updates"])
    return grads


class _Structure(HTMLParser):
    """Checks that every element opened is closed, in order (void elements aside)."""

    VOID = {"meta", "input", "br", "img", "link", "hr", "ellipse", "rect", "path",
            "polyline"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.seen: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.seen.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.seen.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


# --------------------------------------------------------------------------- no browser


def test_the_file_is_self_contained_and_sound_html(tmp_path):
    _, o = neuron()
    path = viz.to_html(o, tmp_path / "neuron.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    # nothing fetched: no src/href/url() anywhere, no <link>, no external script
    assert not re.search(r"""\b(src|href)\s*=""", page)
    assert "url(http" not in page and "<link" not in page and "@import" not in page
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)  # the SVG namespace only
    checker = _Structure()
    checker.feed(page)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    assert checker.seen.count("html") == checker.seen.count("body") == 1
    # the embedded SVG is well-formed XML, one <g class="node"> per node of the graph
    svg = re.search(r"<svg .*?</svg>", page, re.S).group(0)
    root = ET.fromstring(svg)
    nodes = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "node"]
    assert len(nodes) == 10  # 5 leaves, 5 ops


def test_every_step_is_embedded_and_ends_at_backwards_gradients(tmp_path):
    leaves, o = neuron()
    frames = list(viz.backward_steps(o))
    data = page_data(explorer_html(o))
    assert len(data["steps"]) == len(frames) + 1  # step 0 is the seed
    for step, frame in zip(data["steps"][1:], frames):
        assert step["title"].startswith(f"step {frame.step} of {len(frames)}: ")
        assert step["formulas"] == [c.formula for c in frame.computed]
    assert "dL/dn += dL/do * (1 - o**2) = 1 * (1 - 0.7071**2) = 0.5" in \
        data["steps"][1]["formulas"]
    o.backward()
    final = grads_at(data, len(frames))
    shown = {data["slots"][slot]: text for slot, text in final.items()}
    for name, leaf in leaves.items():
        assert shown[name] == summary(leaf.grad)
    # dL/dw1 = x1 (1 - tanh(n)^2) = 2 * 0.5, derived by hand
    assert np.isclose(float(shown["w1"]), 2.0 * (1 - np.tanh(0.8813735870195432) ** 2))


def test_the_final_gradients_table_is_what_backward_leaves(tmp_path):
    leaves, o = neuron()
    page = explorer_html(o)
    o.backward()
    body = re.search(r'<table id="final">.*?</table>', page, re.S).group(0)
    rows = re.findall(r"<tr><td>(.*?)</td><td>.*?</td><td>.*?</td><td>(.*?)</td></tr>", body)
    assert {name: float(g) for name, g in rows} == \
        pytest.approx({name: float(t.grad) for name, t in leaves.items()}, abs=1e-4)


def test_names_from_users_stay_text(tmp_path):
    evil = "<script>alert(1)</script>"
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True, name=evil)
    y = (x * x)
    y.name = '</script><img src=x onerror="alert(2)">&amp;'
    loss = y.sum()
    page = explorer_html(loss, title="<b>my & lesson</b>")
    # exactly our three scripts: onerror, the data, the explorer; no tag made of a name
    assert page.count("<script") == 3 and "<img" not in page and "<b>" not in page
    assert "<title>&lt;b&gt;my &amp; lesson&lt;/b&gt;</title>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # in the SVG label and the table
    data = page_data(page)  # the JSON still reads back the names as they were
    assert evil in data["slots"].values()
    assert y.name in data["slots"].values()


def test_a_modules_output_with_parameters_by_name(tmp_path):
    tr.manual_seed(0)
    rnn = nn.RNN(input_size=2, hidden_size=3)
    out, h = rnn(np.random.default_rng(0).standard_normal((4, 2)))
    with pytest.raises(TypeError, match=r"viz.to_html: loss must be a Tensor, got a tuple.*"
                                        r"output.sum\(\)"):
        viz.to_html((out, h), tmp_path / "rnn.html")
    loss = (out * out).mean()
    path = viz.to_html(loss, tmp_path / "rnn.html", params=rnn)
    page = path.read_text(encoding="utf-8")
    loss.backward()
    rows = dict(re.findall(r"<tr><td>([\w.]+)</td><td>.*?</td><td>.*?</td><td>(.*?)</td></tr>",
                           page, re.S))
    assert set(rows) >= {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}
    for name, p in rnn.named_parameters():
        numbers = [float(v) for v in re.findall(r"-?\d+\.?\d*(?:e[-+]\d+)?", rows[name])]
        assert rows[name].count("[") == 1 + (p.grad.shape[0] if p.ndim == 2 else 0)
        assert numbers == pytest.approx(p.grad.ravel().tolist(), rel=1e-3, abs=1e-12)


@settings(max_examples=8)
@given(st.integers(1, 3), st.integers(1, 3), st.sampled_from(["tanh", "sigmoid", "exp"]))
def test_final_gradients_on_the_nodes_match_backward(rows, cols, act):
    rng = np.random.default_rng(rows * 10 + cols)
    w = Tensor(rng.standard_normal((rows, cols)), requires_grad=True, name="w")
    x = Tensor(rng.standard_normal((cols,)), requires_grad=True, name="x")
    hidden = getattr(w @ x, act)()
    loss = (hidden * hidden).sum() + (w * 0.5).sum()
    data = page_data(explorer_html(loss))
    loss.backward()
    final = {data["slots"][s]: text for s, text in grads_at(data, len(data["steps"]) - 1).items()}
    assert final["w"] == summary(w.grad) and final["x"] == summary(x.grad)


def test_each_output_of_a_several_output_op_has_its_own_gradient_line():
    x = Tensor(np.arange(6.0).reshape(3, 2), requires_grad=True, name="x")
    a, b, c = x.unbind(0)
    loss = (a * b).sum() + c.sum()
    page = explorer_html(loss)
    data = page_data(page)
    unbind = re.search(r'<g class="node" id="(\w+)"><rect[^>]*/><text[^>]*>Unbind</text>(.*?)</g>',
                       page, re.S)
    lines = re.findall(r'data-slot="(\d+)" data-prefix="([^"]*)"', unbind.group(2))
    assert [(data["slots"][slot], prefix) for slot, prefix in lines] == \
        [(f"unbind1[{k}]", f"[{k}] grad ") for k in range(3)]
    last = data["steps"][-1]
    assert last["node"] == unbind.group(1) and last["fresh"] == ["leaf0"]
    final = grads_at(data, len(data["steps"]) - 1)
    # d/da (a.b) = b, d/db = a, d/dc sum(c) = 1, by hand
    assert [final[slot] for slot, _ in lines] == ["[2, 3]", "[0, 1]", "[1, 1]"]


def test_bad_arguments_are_refused_and_nothing_is_written(tmp_path):
    _, o = neuron()
    target = tmp_path / "page.html"
    with pytest.raises(TypeError, match="viz.to_html: loss must be a Tensor, got 3"):
        viz.to_html(3, target)
    with pytest.raises(ValueError, match="viz.to_html: loss is a leaf"):
        viz.to_html(Tensor(1.0, requires_grad=True), target)
    with pytest.raises(ValueError, match=r"viz.to_html: loss has shape \(2,\).*gradient="):
        viz.to_html(Tensor(np.ones(2), requires_grad=True) * 2, target)
    with pytest.raises(ValueError, match=r"viz.to_html: path must end in \.html"):
        viz.to_html(o, tmp_path / "page.svg")
    with pytest.raises(ValueError, match="viz.to_html: the folder of path does not exist"):
        viz.to_html(o, tmp_path / "nowhere" / "page.html")
    with pytest.raises(TypeError, match="viz.to_html: path must be a str or a path, got 5"):
        viz.to_html(o, 5)
    with pytest.raises(ValueError, match="viz.to_html: rankdir must be one of"):
        viz.to_html(o, target, rankdir="BT")
    with pytest.raises(TypeError, match="viz.to_html: title must be a str"):
        viz.to_html(o, target, title=7)
    o.backward()  # frees the graph
    with pytest.raises(RuntimeError, match="viz.to_html: backward.. already ran"):
        viz.to_html(o, target)
    assert list(tmp_path.iterdir()) == []


def test_a_vector_loss_with_its_gradient(tmp_path):
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True, name="x")
    y = x * 3.0
    data = page_data(explorer_html(y, gradient=np.array([1.0, 10.0])))
    final = {data["slots"][s]: t for s, t in grads_at(data, len(data["steps"]) - 1).items()}
    assert final["x"] == "[3, 30]"


def test_explain_html_writes_the_neurons_page(tmp_path, capsys):
    from tinygrad_rnn.__main__ import main

    target = tmp_path / "neuron.html"
    assert main(["explain", "--html", str(target)]) == 0
    assert f"in a browser: {target}" in capsys.readouterr().out
    data = page_data(target.read_text(encoding="utf-8"))
    assert len(data["steps"]) == 1 + 5  # the seed and the neuron's five ops
    assert "dL/dn += dL/do * (1 - o**2) = 1 * (1 - 0.7071**2) = 0.5" in \
        data["steps"][1]["formulas"]


# --------------------------------------------------------------------------- a real browser


needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; .ci/run "
                             "installs it)")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile{len(list(tmp_path.glob('profile*')))}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def dump_dom(tmp_path: Path, page: Path, step: int | None = None) -> str:
    url = page.resolve().as_uri() + ("" if step is None else f"#step={step}")
    done = chromium(tmp_path, "--dump-dom", url)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def shown(dom: str) -> dict:
    """What the page shows, read from its DOM after the script ran."""
    errors = re.search(r'<pre id="errors"[^>]*>(.*?)</pre>', dom, re.S).group(1)
    step = re.search(r'<body[^>]* data-step="(\d+)"', dom)
    running = re.findall(r'<g class="node running[^"]*" id="(\w+)"', dom)
    grads = {slot: html.unescape(text) for slot, text in
             re.findall(r'data-slot="(\d+)" data-prefix="[^"]*">([^<]*)</text>', dom)}
    return {"ready": 'data-ready="yes"' in dom, "errors": errors,
            "step": step and step.group(1),
            "title": html.unescape(re.search(r'<h2 id="step-title">(.*?)</h2>', dom).group(1)),
            "running": running, "grads": grads}


@needs_chromium
def test_the_page_runs_in_chromium_and_opens_at_the_step_asked(tmp_path):
    leaves, o = neuron()
    frames = list(viz.backward_steps(o))
    page = viz.to_html(o, tmp_path / "neuron.html")
    data = page_data(page.read_text(encoding="utf-8"))
    before = shown(dump_dom(tmp_path, page))
    assert before["ready"] and before["errors"] == "" and before["step"] == "0"
    assert before["running"] == [] and before["title"].startswith("before backward")
    for k in (1, 3, len(frames)):
        now = shown(dump_dom(tmp_path, page, k))
        assert now["ready"] and now["errors"] == ""
        assert now["step"] == str(k)
        assert now["title"] == f"step {k} of {len(frames)}: {frames[k - 1].title}"
        assert now["running"] == [data["steps"][k]["node"]]
        # the node lines show every gradient known after step k, with its prefix
        expected = {slot: "grad " + text for slot, text in grads_at(data, k).items()}
        assert {s: t for s, t in now["grads"].items() if t} == expected
    assert shown(dump_dom(tmp_path, page, 999))["step"] == str(len(frames))  # clamped
    o.backward()
    final = shown(dump_dom(tmp_path, page, len(frames)))["grads"]
    names = {data["slots"][s]: t for s, t in final.items()}
    assert all(names[k] == "grad " + summary(t.grad) for k, t in leaves.items())


@needs_chromium
def test_a_script_error_would_show_on_the_page(tmp_path):
    """The error box the tests read is not always empty: a failing script fills it."""
    _, o = neuron()
    page = tmp_path / "broken.html"
    text = explorer_html(o).replace('"use strict";', '"use strict"; undefinedThing();', 1)
    page.write_text(text, encoding="utf-8")
    now = shown(dump_dom(tmp_path, page))
    assert not now["ready"] and "undefinedThing" in now["errors"]


def read_png(path: Path) -> np.ndarray:
    """A PNG (8-bit RGB or RGBA, not interlaced, as Chromium writes) as a (H, W, C) array:
    a small reader, so this test needs no imaging library."""
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, [], None
    while pos < len(raw):
        length, kind = struct.unpack(">I4s", raw[pos:pos + 8])
        body = raw[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0
    channels = 3 if colour == 2 else 4
    data = np.frombuffer(zlib.decompress(b"".join(chunks)), np.uint8)
    rows = data.reshape(height, 1 + width * channels)
    out = np.zeros((height, width * channels), np.int64)
    for y in range(height):  # undo each row's filter (PNG spec, section 9)
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int64)
        up = out[y - 1] if y else np.zeros_like(line)
        if kind == 0:
            out[y] = line
        elif kind == 2:
            out[y] = (line + up) % 256
        else:  # 1 (sub), 3 (average), 4 (Paeth) depend on the pixel to the left
            row = np.zeros_like(line)
            for i in range(len(line)):
                left = row[i - channels] if i >= channels else 0
                corner = up[i - channels] if i >= channels else 0
                if kind == 1:
                    pred = left
                elif kind == 3:
                    pred = (left + up[i]) // 2
                else:
                    p = left + up[i] - corner
                    pa, pb, pc = abs(p - left), abs(p - up[i]), abs(p - corner)
                    pred = left if pa <= pb and pa <= pc else (up[i] if pb <= pc else corner)
                row[i] = (line[i] + pred) % 256
            out[y] = row
    return out.reshape(height, width, channels)[..., :3].astype(np.uint8)


@needs_chromium
def test_a_screenshot_is_not_blank_and_shows_the_highlights(tmp_path):
    _, o = neuron()
    page = viz.to_html(o, tmp_path / "neuron.html")
    pictures = {}
    for step in (0, 3):
        shot = tmp_path / f"step{step}.png"
        done = chromium(tmp_path, "--window-size=1280,900", f"--screenshot={shot}",
                        page.resolve().as_uri() + f"#step={step}")
        assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
        pictures[step] = read_png(shot)
        if os.environ.get("VIZ_PICTURES"):  # kept for a look, as test_viz_svg's pictures
            shutil.copy(shot, Path(os.environ["VIZ_PICTURES"]) / f"viz_explorer_step{step}.png")
    image = pictures[3]
    assert image.shape == (900, 1280, 3)
    white = (image > 245).all(axis=2)
    assert 0.05 < 1 - white.mean() < 0.9  # a fair share drawn, not all one colour
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50

    def count(picture: np.ndarray, rgb: tuple) -> int:
        return int((np.abs(picture.astype(int) - rgb).sum(axis=2) <= 6).sum())

    blue, red = (0x1F, 0x77, 0xB4), (0xD6, 0x27, 0x28)  # the running node, fresh gradients
    assert count(pictures[3], blue) > 100 and count(pictures[3], red) > 100
    assert count(pictures[0], blue) == 0  # before backward nothing runs


# --------------------------------------------------------------------------- driven by Selenium


@pytest.fixture
def driver(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver",
                                    reason="selenium is not installed (the browser extra)")
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("Chromium or chromedriver is not installed (apt-get install chromium "
                    "chromium-driver; .ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'selenium-profile'}")
    options.add_argument("--window-size=1280,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    browser = webdriver.Chrome(options=options, service=service)
    yield browser
    browser.quit()


@needs_chromium
def test_buttons_keys_and_slider_step_through(tmp_path, driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _, o = neuron()
    frames = list(viz.backward_steps(o))
    page = viz.to_html(o, tmp_path / "neuron.html")
    data = page_data(page.read_text(encoding="utf-8"))
    driver.get(page.resolve().as_uri())

    def state():
        running = [e.get_attribute("id") for e in
                   driver.find_elements(By.CSS_SELECTOR, "g.node.running")]
        return (driver.find_element(By.TAG_NAME, "body").get_attribute("data-step"),
                driver.find_element(By.ID, "step-title").text, running,
                [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#formulas pre")])

    def expect(k):
        step, title, running, formulas = state()
        assert step == str(k)
        if k == 0:
            assert running == [] and formulas == []
        else:
            assert title == f"step {k} of {len(frames)}: {frames[k - 1].title}".replace(
                "   ", " ")  # the browser collapses runs of spaces in .text
            assert running == [data["steps"][k]["node"]]
            assert formulas == [c.formula for c in frames[k - 1].computed]

    expect(0)
    assert driver.find_element(By.ID, "prev").get_attribute("disabled") == "true"
    driver.find_element(By.ID, "next").click()
    expect(1)
    driver.find_element(By.ID, "next").click()
    expect(2)
    driver.find_element(By.ID, "prev").click()
    expect(1)
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    expect(3)
    body.send_keys(Keys.END)
    expect(len(frames))
    assert driver.find_element(By.ID, "next").get_attribute("disabled") == "true"
    body.send_keys(Keys.HOME)
    expect(0)
    slider = driver.find_element(By.ID, "slider")
    slider.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)  # the slider's own keys move it
    expect(2)
    assert driver.current_url.endswith("#step=2")
    # the script's state machine against the frames' known gradients, at every step
    for k in range(1, len(frames) + 1):
        grads = driver.execute_script(f"return explorer.gradsAt({k});")
        known = {name: summary(g) + ("" if sent == uses else " ...")
                 for name, g, sent, uses in frames[k - 1].known.values()}
        assert {data["slots"][s]: text for s, text in grads.items()} == known
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
    assert driver.find_element(By.ID, "errors").get_attribute("hidden") == "true"


# --------------------------------------------------------------------------- in Persian (lang="fa")

PERSIAN = re.compile("[\u0600-\u06ff]")
LRI, PDI = "\u2066", "\u2069"  # a left-to-right isolate inside a right-to-left sentence


def element(page: str, pattern: str) -> str:
    match = re.search(pattern, page, re.S)
    assert match is not None, pattern
    return html.unescape(match.group(1))


def test_the_persian_page_is_rtl_with_its_words_in_persian_and_its_code_ltr():
    _, o = neuron()
    frames = list(viz.backward_steps(o))
    english, persian = explorer_html(o), explorer_html(o, lang="fa")
    assert '<html lang="en">' in english and " dir=" not in english
    assert not PERSIAN.search(english)
    assert '<html lang="fa" dir="rtl">' in persian
    # the page's own words: every heading, button, column header and the counter
    words = [element(persian, pattern) for pattern in (
        r"<h1>(.*?)</h1>", r"<h3>(.*?)</h3>", r'<section class="table">\s*<h2>(.*?)</h2>',
        r'<button id="first"[^>]*>(.*?)</button>', r'<button id="prev"[^>]*>(.*?)</button>',
        r'<button id="next"[^>]*>(.*?)</button>', r'<button id="last"[^>]*>(.*?)</button>',
        r'aria-label="(.*?)"', r'"counter"\)\.textContent = (.*?);')]
    words += re.findall(r"<th>(.*?)</th>", persian)
    assert len(words) == 13 and all(PERSIAN.search(w) for w in words), words
    for english_word in ("Gradients known so far", "Final gradients", "◀ previous", "next ▶",
                         "Backward through", "Keys:", "<th>leaf", '"step "'):
        assert english_word in english and english_word not in persian
    # what is code stays left to right: the graph, the controls, the formulas, the cells
    for opening in ('<div class="controls" dir="ltr">', '<div id="graph" dir="ltr">',
                    '<pre id="incoming" dir="ltr">', '<div id="formulas" dir="ltr">',
                    '<ul id="known" dir="ltr">', '<tbody dir="ltr">',
                    '<code dir="ltr">loss.backward()</code>'):
        assert opening in persian
    # the steps: the same graph, nodes, highlights and gradients; the words in Persian,
    # each formula the frame's own, a formula in a Persian title isolated left to right
    en_data, fa_data = page_data(english), page_data(persian)
    assert fa_data["slots"] == en_data["slots"]
    for key in ("node", "fresh", "updates"):
        assert [s[key] for s in fa_data["steps"]] == [s[key] for s in en_data["steps"]]
    for frame, step in zip(frames, fa_data["steps"][1:]):
        assert PERSIAN.search(step["title"]) and not step["title"].startswith("step")
        assert f"{LRI}{in_language(frame.title, 'fa')}{PDI}" in step["title"]
        assert f" {frame.step} " in step["title"] and f" {frame.total}:" in step["title"]
        assert step["formulas"] == [in_language(c.formula, "fa") for c in frame.computed]
        assert step["incoming"] == in_language(frame.incoming, "fa")
        assert f"{LRI}{frame.doc}{PDI}" in step["doc"]
    seed = fa_data["steps"][0]
    assert PERSIAN.search(seed["title"]) and f"{LRI}dL/do = 1{PDI}" in seed["title"]


def test_lang_is_checked_and_a_refused_call_writes_nothing(tmp_path):
    _, o = neuron()
    for bad, shown in (("de", "'de'"), ("FA", "'FA'"), (None, "None"), (["fa"], "['fa'] (list)")):
        with pytest.raises(ValueError, match=r"viz.to_html: lang must be one of 'en', 'fa', "
                                             rf"got {re.escape(shown)}"):
            viz.to_html(o, tmp_path / "page.html", lang=bad)
    assert list(tmp_path.iterdir()) == []


def test_explain_html_lang_fa_writes_the_persian_page(tmp_path, capsys):
    from tinygrad_rnn.__main__ import main

    target = tmp_path / "neuron.html"
    assert main(["explain", "--html", str(target), "--lang", "fa"]) == 0
    assert str(target) in capsys.readouterr().out
    page = target.read_text(encoding="utf-8")
    assert '<html lang="fa" dir="rtl">' in page
    data = page_data(page)
    assert len(data["steps"]) == 1 + 5 and PERSIAN.search(data["steps"][1]["title"])
    assert "dL/dn += dL/do * (1 - o**2) = 1 * (1 - 0.7071**2) = 0.5" in \
        data["steps"][1]["formulas"]


@needs_chromium
def test_the_persian_page_steps_in_a_browser_right_to_left(tmp_path, driver):
    from selenium.webdriver.common.by import By

    _, o = neuron()
    frames = list(viz.backward_steps(o))
    page = viz.to_html(o, tmp_path / "neuron_fa.html", lang="fa")
    data = page_data(page.read_text(encoding="utf-8"))
    driver.get(page.resolve().as_uri())

    def text(css: str) -> str:
        return driver.find_element(By.CSS_SELECTOR, css).text

    def direction(css: str) -> str:
        return driver.execute_script(
            "return getComputedStyle(document.querySelector(arguments[0])).direction;", css)

    assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "yes"
    assert driver.execute_script("return document.documentElement.dir;") == "rtl"
    assert [direction(css) for css in ("body", "header h1", "#step-title", "th")] == ["rtl"] * 4
    assert [direction(css) for css in ("#graph svg", ".controls", "#formulas", "tbody td")] == \
        ["ltr"] * 4
    # the visible words are Persian: headings, buttons, the counter, the table's headers
    visible = [text(css) for css in ("header h1", "#panel h3", "section.table h2", "#first",
                                     "#prev", "#next", "#last", "#counter", "#step-title")]
    visible += [e.text for e in driver.find_elements(By.CSS_SELECTOR, "th")]
    assert all(PERSIAN.search(t) for t in visible), visible
    assert not any(w in " ".join(visible) for w in ("step", "next", "previous", "Final"))

    def state():
        running = [e.get_attribute("id") for e in
                   driver.find_elements(By.CSS_SELECTOR, "g.node.running")]
        return (driver.find_element(By.TAG_NAME, "body").get_attribute("data-step"),
                text("#step-title"), text("#counter"), running,
                [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#formulas pre")])

    before = state()
    assert before[0] == "0" and before[3] == [] and before[4] == []
    shown_titles = {before[1]}
    for k in (1, 2):
        driver.find_element(By.ID, "next").click()
        step, title, counter, running, formulas = state()
        assert step == str(k) and title not in shown_titles and PERSIAN.search(title)
        shown_titles.add(title)
        assert in_language(frames[k - 1].title, "fa").split("   ")[0] in title
        assert re.fullmatch(rf"\D+ {k} \D+ {len(frames)}", counter)
        assert running == [data["steps"][k]["node"]]
        assert formulas == [in_language(c.formula, "fa") for c in frames[k - 1].computed]
    driver.find_element(By.ID, "prev").click()
    assert state()[0] == "1"
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
    assert driver.find_element(By.ID, "errors").get_attribute("hidden") == "true"


@needs_chromium
def test_a_persian_screenshot_is_not_blank_and_has_the_graph_on_the_right(tmp_path):
    _, o = neuron()
    blue = (0x1F, 0x77, 0xB4)  # the node that runs

    def screenshot(lang: str) -> np.ndarray:
        page = viz.to_html(o, tmp_path / f"neuron_{lang}.html", lang=lang)
        shot = tmp_path / f"{lang}.png"
        done = chromium(tmp_path, "--window-size=1280,900", f"--screenshot={shot}",
                        page.resolve().as_uri() + "#step=3")
        assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
        if os.environ.get("VIZ_PICTURES"):  # kept for a look, as the English ones
            shutil.copy(shot, Path(os.environ["VIZ_PICTURES"]) / f"viz_explorer_{lang}_step3.png")
        return read_png(shot)

    persian = screenshot("fa")
    assert persian.shape == (900, 1280, 3)
    white = (persian > 245).all(axis=2)
    assert 0.05 < 1 - white.mean() < 0.9
    assert len(np.unique(persian.reshape(-1, 3), axis=0)) > 50

    def blue_columns(picture: np.ndarray) -> np.ndarray:
        return np.nonzero((np.abs(picture.astype(int) - blue).sum(axis=2) <= 6).any(axis=0))[0]

    # right to left: the graph (and its running node) is the first box, so on the right
    # in Persian and on the left in English
    fa_blue, en_blue = blue_columns(persian), blue_columns(screenshot("en"))
    assert len(fa_blue) > 20 and len(en_blue) > 20
    assert fa_blue.min() > 640 > en_blue.max()
