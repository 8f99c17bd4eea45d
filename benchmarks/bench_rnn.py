"""Time one training step of RNN, LSTM and GRU layers: tinygrad_rnn against two
hand-written numpy BPTTs, the readable one (tinygrad_rnn.reference) and the
fastest we could write (fast_numpy.py), and, when installed, torch.

One training step = forward over T steps from a zero state, loss = mean
squared error of a fixed linear readout of every hidden state against fixed
targets, backward to the four parameter tensors. Before timing, every
implementation must agree with the hand-derived one (loss and every gradient
to 1e-6 relative in float64); one that does not is refused.

    python benchmarks/bench_rnn.py                 # the full table
    python benchmarks/bench_rnn.py --quick         # a smoke run (agreement + a few timings)
    python benchmarks/bench_rnn.py --kinds lstm --configs small medium
    python benchmarks/bench_rnn.py --dtype float32 --configs medium

Each row gives the two baselines in ms and every other implementation as a
ratio to each of them ("/ hand", "/ fast"), microseconds per time step (flat
over T = 250, 1000, 4000 when backward is linear in T) and, for the
one-sequence configs, the peak memory of one training step (linear in T).
"""

from __future__ import annotations

import os

# One BLAS thread, set before numpy (or torch) loads its BLAS.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import ctypes  # noqa: E402
import gc  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import tinygrad_rnn as tr  # noqa: E402
from tinygrad_rnn import reference  # noqa: E402

import fast_numpy  # noqa: E402

try:
    import torch  # noqa: E402
    torch.set_num_threads(1)
except ImportError:  # torch is optional: its columns are left out
    torch = None

# (batch N, input I, hidden H, steps T)
CONFIGS = {
    "tiny": (1, 1, 4, 3),
    "small": (16, 8, 32, 50),
    "medium": (32, 32, 128, 50),
    "large": (64, 128, 512, 35),
    "long": (1, 1, 16, 2000),
    "T=250": (1, 1, 16, 250),
    "T=1000": (1, 1, 16, 1000),
    "T=4000": (1, 1, 16, 4000),
}
# one sequence (N = 1, H = 16) of growing length: time per step and memory must grow
# linearly with T, i.e. time per step stay flat
MEMORY_CONFIGS = ("long", "T=250", "T=1000", "T=4000")
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
# the two numpy baselines every other implementation is given a ratio to: the readable
# hand-derived BPTT (the truth every implementation must agree with) and the fast one
BASELINES = ("hand numpy", "fast numpy")


class Problem:
    """Fixed random parameters, inputs, readout and targets for one (kind, config)."""

    def __init__(self, kind, N, I, H, T, dtype, seed=0):
        rng = np.random.default_rng(seed)
        G = GATES[kind] * H
        bound = 1.0 / np.sqrt(H)
        self.kind, self.dtype = kind, dtype
        self.params = {
            "weight_ih": rng.uniform(-bound, bound, (G, I)),
            "weight_hh": rng.uniform(-bound, bound, (G, H)),
            "bias_ih": rng.uniform(-bound, bound, G),
            "bias_hh": rng.uniform(-bound, bound, G),
        }
        self.params = {k: v.astype(dtype) for k, v in self.params.items()}
        self.x = rng.standard_normal((T, N, I)).astype(dtype)
        self.readout = (rng.standard_normal((H, 1)) / np.sqrt(H)).astype(dtype)
        self.targets = rng.standard_normal((T, N, 1)).astype(dtype)


# --------------------------------------------------------------------------- implementations


def hand_numpy(p: Problem):
    forward = {"rnn": reference.rnn_forward, "lstm": reference.lstm_forward,
               "gru": reference.gru_forward}[p.kind]
    backward = {"rnn": reference.rnn_backward, "lstm": reference.lstm_backward,
                "gru": reference.gru_backward}[p.kind]

    def step():
        result = forward(p.params, p.x)
        hs, cache = result[0], result[-1]
        y = hs @ p.readout
        diff = y - p.targets
        loss = np.mean(diff * diff)
        d_hs = (2.0 / diff.size) * diff @ p.readout.T
        grads = backward(cache, d_hs)
        return loss, {name: grads[name] for name in PARAM_NAMES}

    return step


def fast_numpy_step(p: Problem):
    """fast_numpy.py: the same step with every trick we know (cached buffers, one exp per step)."""
    step = fast_numpy.make_step(p.kind)
    return lambda: step(p.params, p.x, p.readout, p.targets)


def tinygrad_layer(p: Problem):
    T, N, I = p.x.shape
    H = p.params["weight_hh"].shape[1]
    layer_cls = {"rnn": tr.nn.RNN, "lstm": tr.nn.LSTM, "gru": tr.nn.GRU}[p.kind]
    layer = layer_cls(I, H)
    if p.dtype == np.float32:
        layer.float()
    layer.load_state_dict({k + "_l0": v for k, v in p.params.items()})
    params = dict(layer.named_parameters())
    x, readout, targets = tr.Tensor(p.x), tr.Tensor(p.readout), tr.Tensor(p.targets)

    def step():
        for t in params.values():
            t.grad = None
        hs = layer(x)[0]
        loss = (((hs @ readout) - targets) ** 2).mean()
        loss.backward()
        return loss.item(), {name: params[name + "_l0"].grad for name in PARAM_NAMES}

    return step


def torch_fused(p: Problem):
    T, N, I = p.x.shape
    H = p.params["weight_hh"].shape[1]
    tdtype = torch.float64 if p.dtype == np.float64 else torch.float32
    kinds = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    layer = kinds[p.kind](I, H).to(tdtype)
    layer.load_state_dict({k + "_l0": torch.from_numpy(v.copy()) for k, v in p.params.items()})
    params = dict(layer.named_parameters())
    x, readout, targets = (torch.from_numpy(a) for a in (p.x, p.readout, p.targets))

    def step():
        for t in params.values():
            t.grad = None
        hs = layer(x)[0]
        loss = ((hs @ readout - targets) ** 2).mean()
        loss.backward()
        return loss.item(), {name: params[name + "_l0"].grad.numpy() for name in PARAM_NAMES}

    return step


def torch_eager(p: Problem):
    """The same cell written out of torch ops, one time step at a time."""
    params = {k: torch.from_numpy(v.copy()).requires_grad_() for k, v in p.params.items()}
    x, readout, targets = (torch.from_numpy(a) for a in (p.x, p.readout, p.targets))
    W_ih, W_hh, b_ih, b_hh = (params[n] for n in PARAM_NAMES)
    H = W_hh.shape[1]

    def cell(x_t, h, c):
        if p.kind == "rnn":
            return torch.tanh(x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh), None
        if p.kind == "lstm":
            i, f, g, o = (x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            return torch.sigmoid(o) * torch.tanh(c), c
        xr, xz, xn = (x_t @ W_ih.T + b_ih).chunk(3, 1)
        hr, hz, hn = (h @ W_hh.T + b_hh).chunk(3, 1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return (1 - z) * n + z * h, None

    def step():
        for t in params.values():
            t.grad = None
        h = c = torch.zeros(x.shape[1], H, dtype=x.dtype)
        hs = []
        for x_t in x:
            h, c = cell(x_t, h, c)
            hs.append(h)
        loss = ((torch.stack(hs) @ readout - targets) ** 2).mean()
        loss.backward()
        return loss.item(), {name: params[name].grad.numpy() for name in PARAM_NAMES}

    return step


def implementations():
    impls = {"hand numpy": hand_numpy, "fast numpy": fast_numpy_step,
             "tinygrad_rnn": tinygrad_layer}
    if torch is not None:
        impls.update({"torch fused": torch_fused, "torch eager": torch_eager})
    return impls


# --------------------------------------------------------------------------- measuring


def agrees(step, reference_result, rtol) -> str | None:
    """None when loss and every gradient match the hand-derived ones, else what differs."""
    loss, grads = step()
    want_loss, want_grads = reference_result
    if not np.isclose(loss, want_loss, rtol=rtol, atol=0):
        return f"loss {loss} != {want_loss}"
    for name, want in want_grads.items():
        got = np.asarray(grads[name], dtype=np.float64)
        scale = np.max(np.abs(want))
        err = np.max(np.abs(got - want)) / scale if scale else np.max(np.abs(got))
        if err > rtol:
            return f"{name}: max relative error {err:.2e}"
    return None


def peak_memory_mb(step) -> float:
    """Peak bytes allocated during one step (numpy arrays, which numpy reports to
    tracemalloc, and Python objects such as graph nodes), above what was live before."""
    step()  # a warm-up, so that lazily built caches are not counted
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - start) / 2**20


def measure(kind, config, dtype, repeats, min_time, impls):
    N, I, H, T = CONFIGS[config]
    problem = Problem(kind, N, I, H, T, dtype)
    steps = {name: make(problem) for name, make in impls.items()}
    truth = steps["hand numpy"]()
    rtol = 1e-6 if dtype == np.float64 else 1e-3
    refused = {}
    for name, step in list(steps.items()):
        problem_msg = agrees(step, truth, rtol)
        if problem_msg:
            refused[name] = problem_msg
            del steps[name]
    medians = interleaved_medians(steps, "hand numpy", repeats, min_time)
    memory = {}
    if config in MEMORY_CONFIGS:  # torch allocates outside tracemalloc's view, and fast
        # numpy keeps its buffers between calls (nothing new at a step): both left out
        memory = {name: peak_memory_mb(steps[name]) for name in ("tinygrad_rnn", "hand numpy")
                  if name in steps}
    return medians, refused, memory


def interleaved_medians(steps: dict, base: str, repeats: int, min_time: float) -> dict:
    """{name: median ms per call}: every step timed in samples of at least ``min_time``
    seconds (the number of calls set by step ``base``), the steps interleaved so that
    drifts of the machine hit every one alike."""
    start = time.perf_counter()
    steps[base]()
    calls = max(1, int(min_time / max(time.perf_counter() - start, 1e-6)))
    samples = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(calls):
                step()
            samples[name].append((time.perf_counter() - start) / calls * 1e3)
    return {name: statistics.median(s) for name, s in samples.items()}


def ratio_cells(names: list, medians: dict, refused: dict, base) -> tuple:
    """(one table cell per column, whether none was refused): ``base`` is one baseline
    or a tuple of them; a baseline's cell is its ms, every other implementation has a
    ratio to each baseline in turn (``header_cells`` names them), REFUSED and why for
    one that disagreed, "-" for a ratio to a refused baseline."""
    bases = (base,) if isinstance(base, str) else tuple(base)
    cells, all_agree = [], True
    for name in names:
        all_agree &= name not in refused
        if name in bases:
            cells.append(f"REFUSED ({refused[name]})" if name in refused
                         else f"{medians[name]:.3f} ms")
            continue
        for i, b in enumerate(bases):
            if name in refused:
                cells.append(f"REFUSED ({refused[name]})" if i == 0 else "-")
            elif b not in medians:
                cells.append("-")
            else:
                cells.append(f"{medians[name] / medians[b]:.2f}x")
    return cells, all_agree


def header_cells(names: list, base) -> list:
    """The column names that go with ``ratio_cells``: "tinygrad_rnn / hand" is the ratio
    to "hand numpy"."""
    bases = (base,) if isinstance(base, str) else tuple(base)
    if len(bases) == 1:
        return list(names)
    cells = []
    for name in names:
        if name in bases:
            cells.append(name)
        else:  # "hand numpy" -> "/ hand"
            cells.extend(f"{name} / {b.split()[0]}" for b in bases)
    return cells


def pin_malloc() -> str:
    """Keep glibc's malloc from handing freed memory back to the OS between steps.

    By default glibc trims the heap and moves its mmap threshold as blocks are
    freed, so the same hand-written numpy step took 6 ms or 10 ms (RNN medium)
    depending on what an earlier implementation had allocated and freed in this
    process: page faults, not arithmetic. Pinned, every implementation runs on a
    warm heap whatever ran before it, like BLAS pinned to one thread. (Users can
    do the same: MALLOC_TRIM_THRESHOLD_ and MALLOC_MMAP_THRESHOLD_.)
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        if libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) and libc.mallopt(M_MMAP_THRESHOLD, 32 << 20):
            return "glibc malloc pinned: no trimming, mmap above 32 MiB"
    except (OSError, AttributeError):
        pass
    return "default malloc"


def cpu_name() -> str:
    try:  # Linux says what the CPU is; platform.processor() is often empty there
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_info() -> str:
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older numpy: no dict mode
        return "unknown"


def table(kinds, configs, dtype, repeats, min_time, impls) -> bool:
    """Print one markdown table; False if some implementation was refused."""
    names = list(impls)
    bases = tuple(b for b in BASELINES if b in names)
    columns = header_cells(names, bases)
    per_step_of = " / ".join(["ours"] + [b.split()[0] for b in bases])
    print("| kind | config (N, I, H, T) | " + " | ".join(columns)
          + f" | us per time step ({per_step_of}) | peak MB (ours / hand) |")
    print("|---|---|" + "---|" * len(columns) + "---|---|")
    all_agree = True
    for kind in kinds:
        for config in configs:
            medians, refused, memory = measure(kind, config, dtype, repeats, min_time, impls)
            cells, agree = ratio_cells(names, medians, refused, bases)
            all_agree &= agree
            steps = CONFIGS[config][3]
            per_step = " / ".join(f"{medians[n] / steps * 1e3:.1f}" if n in medians else "-"
                                  for n in ("tinygrad_rnn",) + bases)
            mem = (f"{memory['tinygrad_rnn']:.1f} / {memory['hand numpy']:.1f}"
                   if "tinygrad_rnn" in memory else "")
            print(f"| {kind} | {config} {CONFIGS[config]} | " + " | ".join(cells)
                  + f" | {per_step} | {mem} |", flush=True)
    return all_agree


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: tiny and small, few repeats")
    parser.add_argument("--kinds", nargs="+", default=list(GATES), choices=list(GATES))
    parser.add_argument("--configs", nargs="+", default=None, choices=list(CONFIGS))
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--float32", nargs="*", default=None, choices=list(CONFIGS),
                        metavar="CONFIG",
                        help="after the main table, these configs again in float32 against hand "
                             "float32 numpy (default: medium in a full run, none with --quick)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc as it is (timings then depend on run order)")
    args = parser.parse_args(argv)
    malloc = "default malloc" if args.default_malloc else pin_malloc()
    configs = args.configs or (["tiny", "small"] if args.quick else list(CONFIGS))
    float32_configs = args.float32
    if float32_configs is None:
        float32_configs = [] if args.quick or args.dtype == "float32" else ["medium"]
    repeats = args.repeats or (3 if args.quick else 7)
    min_time = 0.005 if args.quick else 0.2
    impls = implementations()
    print(f"# {time.strftime('%Y-%m-%d')}, {cpu_name()} ({platform.machine()}, "
          f"{os.cpu_count()} cores), Python {platform.python_version()}, numpy {np.__version__} "
          f"(BLAS: {blas_info()}, 1 thread), "
          f"torch {torch.__version__ if torch else 'not installed'}; {malloc}")
    print(f"# median ms per training step over {repeats} interleaved repeats; ratios to hand "
          f"numpy (tinygrad_rnn.reference) and to fast numpy (benchmarks/fast_numpy.py)\n")
    print(f"{args.dtype}:\n")
    ok = table(args.kinds, configs, np.dtype(args.dtype).type, repeats, min_time, impls)
    if float32_configs:
        print("\nfloat32, against hand and fast float32 numpy (torch fused runs a oneDNN "
              "kernel on CPU):\n")
        ok &= table(args.kinds, float32_configs, np.float32, repeats, min_time, impls)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
