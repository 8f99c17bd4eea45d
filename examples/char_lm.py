"""A character-level language model of Hafez's ghazals, from ops only.

An embedding, an LSTM (or GRU) and a linear read-out predict the next character.
Training is truncated backpropagation through time over the whole text: the
text is cut into ``--batch`` parallel streams, each read ``--bptt`` characters
at a time; the hidden state is carried from one chunk to the next but detached,
so gradients flow back at most ``--bptt`` steps. Gradients are clipped to a
total norm, and Adam or Adagrad takes the step.

Every tenth ghazal is held out. The result is the held-out cross-entropy in
bits per character, next to the unigram baseline: the character frequencies of
the training text (add-one smoothed) scored on the same held-out text. Then
the model writes a few lines at three temperatures, and the checkpoint
(``tr.save``: weights, optimizer state, carried hidden state, step) lets
``--resume`` continue the run exactly where it stopped.

    python examples/char_lm.py                      # LSTM, Adam, about a minute
    python examples/char_lm.py --cell gru --optim adagrad
    python examples/char_lm.py --steps 1200 --resume   # train on from the checkpoint
    python examples/char_lm.py --text any_utf8_file.txt

The ghazals come from the ``hafez`` package's data file (pip install hafez),
read directly as JSON: importing the package would pull in pandas.
"""

from __future__ import annotations

import _common as C  # first: BLAS threads, sys.path

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import Tensor, functional as F, nn, optim

LN2 = math.log(2.0)
CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


# --------------------------------------------------------------------------- data


def hafez_poems() -> list[str]:
    """The 495 ghazals, each as its hemistichs joined by newlines."""
    spec = importlib.util.find_spec("hafez")
    if spec is None or spec.origin is None:
        raise SystemExit("char_lm: the ghazals come from the 'hafez' package, which is not "
                         "installed: pip install hafez  (or train on any UTF-8 text with "
                         "--text PATH)")
    path = Path(spec.origin).parent / "data" / "hafez.json"
    if not path.is_file():
        raise SystemExit(f"char_lm: the hafez package has no data file at {path}; "
                         f"reinstall it (pip install --force-reinstall hafez) or use --text PATH")
    poems = json.loads(path.read_text(encoding="utf-8"))
    return ["\n".join(p["poem"]) for p in poems]


def load_text(text_path: Path | None) -> tuple[str, str, str]:
    """(training text, held-out text, a description of the split).

    Hafez: every tenth ghazal is held out. Any other text: its last tenth, cut
    at a line break.
    """
    if text_path is None:
        poems = hafez_poems()
        train = [p for k, p in enumerate(poems) if k % 10 != 9]
        held = [p for k, p in enumerate(poems) if k % 10 == 9]
        return ("\n\n".join(train) + "\n\n", "\n\n".join(held) + "\n\n",
                f"Hafez: {len(train)} ghazals for training, {len(held)} held out")
    try:
        text = Path(text_path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SystemExit(f"char_lm: no such file: {text_path}") from None
    except UnicodeDecodeError as err:
        raise SystemExit(f"char_lm: {text_path} is not UTF-8 text ({err})") from None
    cut = text.rfind("\n", 0, int(len(text) * 0.9)) + 1 or int(len(text) * 0.9)
    if len(text) < 1000:
        raise SystemExit(f"char_lm: {text_path} has {len(text)} characters; give it at "
                         f"least a few thousand")
    return text[:cut], text[cut:], f"{text_path}: the last {len(text) - cut} characters held out"


def streams(ids: np.ndarray, batch: int) -> np.ndarray:
    """(L, batch): the text cut into ``batch`` contiguous streams, one per column."""
    length = len(ids) // batch
    return ids[: length * batch].reshape(batch, length).T.copy()


def unigram_bits(train_ids: np.ndarray, held_ids: np.ndarray, vocab_size: int) -> float:
    """Bits per character of the held-out text under the training text's
    character frequencies (add-one smoothed, so an unseen character costs
    finitely many bits)."""
    counts = np.bincount(train_ids, minlength=vocab_size) + 1.0
    log_p = np.log2(counts / counts.sum())
    return float(-log_p[held_ids].mean())


# --------------------------------------------------------------------------- model


class CharLM(nn.Module):
    """embedding -> LSTM or GRU -> linear read-out to next-character logits."""

    def __init__(self, vocab_size: int, embed: int, hidden: int, cell: str):
        self.cell = cell
        self.embedding = nn.Embedding(vocab_size, embed)
        self.rnn = CELLS[cell](embed, hidden)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, ids: np.ndarray, state=None):
        """ids (T, N) integers -> logits (T, N, V), final state."""
        out, state = self.rnn(self.embedding(ids), state)
        return self.head(out), state


def detach(state):
    """The state as new leaves: the next chunk starts from its values, and
    backward stops here (this is what makes the BPTT truncated)."""
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def state_arrays(state) -> list:
    if state is None:
        return []
    return [s.data for s in (state if isinstance(state, tuple) else (state,))]


def state_from(arrays: list, cell: str):
    if not arrays:
        return None
    tensors = tuple(Tensor(a) for a in arrays)
    return tensors if cell == "lstm" else tensors[0]


@tr.no_grad()
def heldout_bits(model: CharLM, data: np.ndarray, bptt: int) -> float:
    """Mean bits per character of the held-out streams (state carried across chunks)."""
    total, count, state = 0.0, 0, None
    for pos in range(0, data.shape[0] - 1, bptt):
        x, y = data[pos:pos + bptt], data[pos + 1:pos + 1 + bptt]
        x = x[: len(y)]
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                               reduction="sum")
        total, count = total + loss.item(), count + y.size
    return total / count / LN2


@tr.no_grad()
def sample(model: CharLM, chars: list, rng: np.random.Generator, temperature: float,
           length: int, prime: str = "\n") -> str:
    """``length`` characters drawn one at a time from softmax(logits / temperature)."""
    index = {c: k for k, c in enumerate(chars)}
    state, logits = None, None
    for c in prime:
        logits, state = model(np.array([[index.get(c, 0)]]), state)
    out = []
    for _ in range(length):
        z = logits.data[-1, 0].astype(np.float64) / temperature
        p = np.exp(z - z.max())
        k = int(rng.choice(len(chars), p=p / p.sum()))
        out.append(chars[k])
        logits, state = model(np.array([[k]]), state)
    return "".join(out)


# --------------------------------------------------------------------------- checkpoint


def save_checkpoint(path: Path, model, opt, state, step: int, chars, config) -> None:
    """Weights, optimizer state, carried hidden state, step and vocabulary, in one .npz."""
    ckpt = {f"model.{k}": v for k, v in model.state_dict().items()}
    ckpt.update({f"optim.{k}": v for k, v in opt.state_dict().items()})
    for i, a in enumerate(state_arrays(state)):
        ckpt[f"state.{i}"] = a
    ckpt["step"] = np.asarray(step)
    ckpt["vocab"] = np.array([ord(c) for c in chars], dtype=np.int64)
    ckpt["config"] = np.array(config, dtype=np.int64)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tr.save(ckpt, path)


def load_checkpoint(path: Path, model, opt, chars, config) -> tuple:
    """Restore what ``save_checkpoint`` wrote; returns (state, step)."""
    ckpt = tr.load(path)
    saved_chars = "".join(chr(c) for c in ckpt["vocab"])
    if saved_chars != "".join(chars):
        raise SystemExit(f"char_lm: {path} was trained on another text (its vocabulary has "
                         f"{len(saved_chars)} characters, this text {len(chars)})")
    if list(ckpt["config"]) != list(config):
        names = ("embed", "hidden", "cell (0 lstm, 1 gru)", "optimizer (0 adam, 1 adagrad)")
        diffs = [f"{n}: saved {a}, now {b}" for n, a, b in zip(names, ckpt["config"], config)
                 if a != b]
        raise SystemExit(f"char_lm: {path} has another configuration ({'; '.join(diffs)})")
    model.load_state_dict({k[6:]: v for k, v in ckpt.items() if k.startswith("model.")})
    opt.load_state_dict({k[6:]: v for k, v in ckpt.items() if k.startswith("optim.")})
    state = state_from([ckpt[f"state.{i}"] for i in range(2) if f"state.{i}" in ckpt],
                       model.cell)
    return state, int(ckpt["step"])


# --------------------------------------------------------------------------- main


def get_args(argv):
    p = C.parser(__doc__.split("\n\n")[0])
    p.add_argument("--text", type=Path, default=None,
                   help="train on this UTF-8 file instead of Hafez")
    p.add_argument("--cell", choices=sorted(CELLS), default="lstm")
    p.add_argument("--optim", choices=["adam", "adagrad"], default="adam")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: Adam 3e-3, quick 1e-2; Adagrad 0.05)")
    p.add_argument("--steps", type=int, default=None, help="total updates (default 900; quick 80)")
    p.add_argument("--hidden", type=int, default=None, help="hidden size (default 128; quick 64)")
    p.add_argument("--embed", type=int, default=32, help="embedding size")
    p.add_argument("--batch", type=int, default=None,
                   help="parallel streams (default 64; quick 32)")
    p.add_argument("--bptt", type=int, default=None,
                   help="characters per truncated-BPTT chunk (default 50; quick 25)")
    p.add_argument("--clip", type=float, default=1.0, help="max total gradient norm")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="checkpoint file (default: <out>/char_lm.npz)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the checkpoint up to --steps updates")
    p.add_argument("--sample-length", type=int, default=None, help="characters per sample")
    args = p.parse_args(argv)
    quick = args.quick
    defaults = dict(steps=80 if quick else 900, hidden=64 if quick else 128,
                    batch=32 if quick else 64, bptt=25 if quick else 50,
                    sample_length=120 if quick else 300,
                    lr=(1e-2 if quick else 3e-3) if args.optim == "adam" else 0.05)
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.checkpoint is None:
        args.checkpoint = args.out / "char_lm.npz"
    return args


def main(argv=None) -> dict:
    args = get_args(argv)
    rng = C.seed(args.seed)
    timer = C.Timer()

    train_text, held_text, split = load_text(args.text)
    if args.quick:  # a slice of the text: the test suite's budget is seconds
        train_text, held_text = train_text[:60_000], held_text[:8_000]
    chars = sorted(set(train_text) | set(held_text))
    index = {c: k for k, c in enumerate(chars)}
    train_ids = np.array([index[c] for c in train_text])
    held_ids = np.array([index[c] for c in held_text])
    vocab = len(chars)
    baseline = unigram_bits(train_ids, held_ids, vocab)
    print(f"{split}; {len(train_ids):,} training and {len(held_ids):,} held-out characters, "
          f"{vocab} distinct")
    print(f"unigram baseline (training frequencies, on held-out): {baseline:.3f} bits/char")

    model = CharLM(vocab, args.embed, args.hidden, args.cell).float()
    params = list(model.parameters())
    opt = (optim.Adam(params, lr=args.lr) if args.optim == "adam"
           else optim.Adagrad(params, lr=args.lr))
    config = [args.embed, args.hidden, ["lstm", "gru"].index(args.cell),
              ["adam", "adagrad"].index(args.optim)]

    train = streams(train_ids, args.batch)
    held = streams(held_ids, 16)
    chunks = (train.shape[0] - 1) // args.bptt  # updates per pass over the text
    state, start = None, 0
    if args.resume:
        if not Path(args.checkpoint).is_file():
            raise SystemExit(f"char_lm: --resume: no checkpoint at {args.checkpoint}")
        state, start = load_checkpoint(args.checkpoint, model, opt, chars, config)
        print(f"resumed from {args.checkpoint} at step {start}")
    print(f"{args.cell.upper()} {args.hidden} hidden, {sum(p.data.size for p in params):,} "
          f"parameters; {args.optim} lr {args.lr}; {args.batch} streams x {args.bptt} "
          f"characters per update, {chunks} updates per pass")

    eval_every = max(1, args.steps // 10)
    curve = {"step": [], "train_bits": [], "heldout_bits": []}
    running, seen = 0.0, 0
    bar = C.progress(range(start, args.steps), "training", args.no_progress,
                     initial=start, total=args.steps)
    for step in bar:
        if step % chunks == 0:
            state = None  # a new pass over the text starts from a zero state
        pos = (step % chunks) * args.bptt
        x, y = train[pos:pos + args.bptt], train[pos + 1:pos + 1 + args.bptt]
        logits, state = model(x, state)
        state = detach(state)
        loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, args.clip)
        opt.step()
        running, seen = running + loss.item() / LN2, seen + 1
        if (step + 1) % eval_every == 0 or step + 1 == args.steps:
            held_bits = heldout_bits(model, held, args.bptt)
            curve["step"].append(step + 1)
            curve["train_bits"].append(running / seen)
            curve["heldout_bits"].append(held_bits)
            running, seen = 0.0, 0
            bar.set_postfix(train=f"{curve['train_bits'][-1]:.3f}", heldout=f"{held_bits:.3f}")
            save_checkpoint(args.checkpoint, model, opt, state, step + 1, chars, config)
    bar.close()
    train_seconds = timer()

    final = heldout_bits(model, held, args.bptt)
    print(f"\nheld-out: {final:.3f} bits/char, unigram baseline {baseline:.3f}: "
          f"{baseline - final:.3f} bits/char better "
          f"({100 * (1 - final / baseline):.1f}% fewer bits)")
    print(f"trained {args.steps - start} updates in {train_seconds:.1f} s; "
          f"checkpoint {args.checkpoint}")

    samples = {}
    for temperature in (0.5, 0.8, 1.0):
        text = sample(model, chars, rng, temperature, args.sample_length)
        samples[str(temperature)] = text
        print(f"\n--- sample, temperature {temperature} ---\n{text}")

    figure = None
    plt = C.pyplot(args) if curve["step"] else None
    if plt is not None:
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        ax.plot(curve["step"], curve["train_bits"], "o-", label="training (mean since last point)")
        ax.plot(curve["step"], curve["heldout_bits"], "s-", label="held-out ghazals"
                if args.text is None else "held-out text")
        ax.axhline(baseline, color="gray", ls="--", label=f"unigram baseline {baseline:.2f}")
        ax.set_xlabel("update")
        ax.set_ylabel("bits per character")
        ax.set_title(f"char-level {args.cell.upper()} ({args.optim}), truncated BPTT {args.bptt}")
        ax.legend()
        figure = C.save_figure(fig, args, "char_lm.png")

    return C.finish({
        "heldout_bits": final, "unigram_bits": baseline, "improvement_bits": baseline - final,
        "steps": args.steps, "start_step": start, "cell": args.cell, "optim": args.optim,
        "vocab_size": vocab, "train_chars": int(train_ids.size),
        "heldout_chars": int(held_ids.size),
        "curve": curve, "samples": samples, "checkpoint": str(args.checkpoint),
        "seconds": timer(), "figure": figure,
    }, args)


if __name__ == "__main__":
    main(sys.argv[1:])
