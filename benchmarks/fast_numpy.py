"""The fastest hand-written numpy BPTT training step we could write: a second baseline.

``tinygrad_rnn.reference`` is written to be read: one equation per line, fresh
arrays everywhere, ``np.tanh`` for every nonlinearity. This module computes the
same training step as ``bench_rnn.py`` (forward from a zero state, a fixed
linear readout of every hidden state, mean squared error, gradients of
weight_ih, weight_hh, bias_ih, bias_hh) the way a performance engineer would:

- every buffer is allocated once per shape and reused by every call (a cache
  keyed by T, N, I, H, outputs, dtype), and every numpy call writes into one
  with ``out`` (passed positionally: cheaper than a keyword);
- the per-step views (``s[t]``, the gate blocks, ``h[t]`` ...) are built once
  per shape too, so the time loops only unpack tuples: no indexing, no slicing;
- all gate nonlinearities of a step are ONE ``np.exp`` over the whole block of
  pre-activations. On this CPU (x86-64 without AVX-512) numpy's float64 tanh is
  libm's scalar tanh, 2.5-3x the cost of exp, so sigmoid(a) = 1 / (1 + exp(-a))
  and tanh(a) = 2 / (1 + exp(-2a)) - 1, with the -1 and -2 folded into the
  weights (exact: powers of two). Below ``EXP_TANH_MIN`` elements a plain
  ``np.tanh`` (one call instead of four or five) is cheaper and is used;
- a column of ones appended to x (and, for GRU, to h) carries the biases, so
  the input projection of all steps is one matmul with its bias, and
  dW_ih with db_ih (dW_hh with db_hh) is one matmul over all T*N rows;
- the backward's derivative factors (s(1 - s), 1 - tanh^2 and the products
  that multiply the incoming gradient) and the readout's gradient dL/dh are
  computed for all steps at once before the time loop, so a step of the loop
  is a matmul and three to six multiply/adds;
- gradients that share a factor are one broadcast multiply (LSTM: da_i, da_f,
  da_g = dc * [P_i, P_f, P_g]; da_o and dh*K = dh * [P_o, K]);
- the first forward step of RNN and LSTM skips h0 @ W_hh (the state starts at zero).

Returned gradients are views of the cached buffers, overwritten by the next
call with the same shapes (copy them to keep them), as an optimizer would
consume them. Each step must agree with the reference (bench_rnn's agreement
check; tests/test_benchmarks.py).

    step = make_step("lstm")
    loss, grads = step(params, x, readout, targets)
    # params: weight_ih, weight_hh, bias_ih, bias_hh

Large pre-activations (below -354 for a tanh, -709 for a sigmoid) make exp
overflow to inf, which still gives the exact limits (-1, 0) and a numpy
RuntimeWarning; an ``np.errstate`` around every call would cost 6 us.
"""

from __future__ import annotations

import numpy as np

NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

# Below this many elements per (N, H) block, np.tanh (one call) beats tanh via exp
# (four or five calls of ~0.5 us); measured on the benchmark machine.
EXP_TANH_MIN = 128

_add, _sub, _mul, _div = np.add, np.subtract, np.multiply, np.divide
_exp, _tanh, _recip, _matmul, _dot = np.exp, np.tanh, np.reciprocal, np.matmul, np.dot


class _Buffers:
    """A bag of preallocated arrays and per-step views for one shape."""


class _Step:
    """Shared parts: the shape cache, the ones column, the loss and dL/dh of all steps."""

    def __init__(self):
        self._cache: dict = {}

    def __call__(self, params: dict, x: np.ndarray, readout: np.ndarray, targets: np.ndarray):
        W_ih, W_hh, b_ih, b_hh = (params[name] for name in NAMES)
        T, N, I = x.shape
        H = W_hh.shape[1]
        key = (T, N, I, H, readout.shape[1], x.dtype)
        b = self._cache.get(key)
        if b is None:
            b = self._cache[key] = self._allocate(T, N, I, H, readout.shape[1], x.dtype)
        b.x_in[...] = x.reshape(T * N, I)  # beside the ones column
        return self._step(b, W_ih, W_hh, b_ih, b_hh, readout, targets)

    def _common(self, T, N, I, H, O, dtype, h_width):
        b = _Buffers()
        b.T, b.N, b.I, b.H = T, N, I, H
        b.xe = np.ones((T * N, I + 1), dtype)  # [x | 1]: the bias rides in the matmuls
        b.x_in = b.xe[:, :I]
        b.hs = np.zeros((T + 1, N, h_width), dtype)  # hs[0] = h0 = 0, hs[t+1] = h_t
        if h_width > H:
            b.hs[..., H] = 1.0  # GRU: [h | 1], b_hn rides in h @ W_hh^T
        b.h_out = b.hs[1:].reshape(T * N, h_width)[:, :H]  # every h_t, (T*N, H)
        b.h_prev = b.hs[:-1].reshape(T * N, h_width)      # every h_{t-1} (and the 1s)
        b.y = np.empty((T * N, O), dtype)
        b.y_flat = b.y.reshape(-1)
        b.dy = np.empty((T, N, H), dtype)  # dL/dh_t from the readout, all steps
        b.dy_flat = b.dy.reshape(T * N, H)
        b.h_views = [b.hs[t, :, :H] for t in range(T + 1)]
        b.scale = 2.0 / (T * N * O)
        b.exp_tanh = N * H >= EXP_TANH_MIN
        return b

    @staticmethod
    def _loss(b, readout, targets) -> float:
        """MSE of hs @ readout against targets, and dL/dh of every step into b.dy."""
        y = b.y
        _matmul(b.h_out, readout, y)  # the readout of all T*N rows in one matmul
        _sub(y, targets.reshape(y.shape), y)
        loss = float(np.dot(b.y_flat, b.y_flat)) * (0.5 * b.scale)
        _mul(y, b.scale, y)
        _matmul(y, readout.T, b.dy_flat)  # dL/dh for all steps, before the time loop
        return loss


class RNN(_Step):
    """h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)."""

    def _allocate(self, T, N, I, H, O, dtype):
        b = self._common(T, N, I, H, O, dtype, H)
        b.k = -2.0 if b.exp_tanh else 1.0  # exp(-2a) gives tanh(a)
        b.wx = np.empty((I + 1, H), dtype)  # k [W_ih^T ; b_ih + b_hh]
        b.wh = np.empty((H, H), dtype)      # k W_hh^T, contiguous (BLAS "NN")
        b.a = np.empty((T, N, H), dtype)    # k (x_t W_ih^T + b), all steps
        b.a_flat = b.a.reshape(T * N, H)
        b.tmp = np.empty((N, H), dtype)
        b.d = np.empty((T, N, H), dtype)    # 1 - h^2, all steps
        b.da = np.empty((T, N, H), dtype)
        b.da_flat = b.da.reshape(T * N, H)
        b.gwx = np.empty((H, I + 1), dtype)  # [dW_ih | db]
        b.gwh = np.empty((H, H), dtype)
        b.gbh = np.empty(H, dtype)
        hv = b.h_views
        b.fwd = [(hv[t] if t else None, b.a[t], hv[t + 1]) for t in range(T)]
        b.bwd = [(b.dy[t], b.d[t], b.da[t], b.da[t + 1]) for t in range(T - 1)]
        return b

    def _step(self, b, W_ih, W_hh, b_ih, b_hh, readout, targets):
        k, wh, tmp, exp_tanh, I = b.k, b.wh, b.tmp, b.exp_tanh, b.I
        _mul(W_ih.T, k, b.wx[:I])
        _add(b_ih, b_hh, b.wx[I])
        _mul(b.wx[I], k, b.wx[I])
        _mul(W_hh.T, k, wh)
        _matmul(b.xe, b.wx, b.a_flat)  # the input projection of every step, bias included
        for h_prev, a_t, h_t in b.fwd:
            if h_prev is not None:  # h0 = 0: nothing to add at t = 0
                _dot(h_prev, wh, tmp)
                _add(a_t, tmp, a_t)
            if exp_tanh:  # tanh(a) = 2 / (1 + exp(-2a)) - 1, the -2 already in a_t
                _exp(a_t, h_t)
                _add(h_t, 1.0, h_t)
                _div(2.0, h_t, h_t)
                _sub(h_t, 1.0, h_t)
            else:
                _tanh(a_t, h_t)
        loss = self._loss(b, readout, targets)

        d = b.d  # tanh' = 1 - h^2, all steps in two calls
        hs = b.hs[1:]
        _mul(hs, hs, d)
        _sub(1.0, d, d)
        T = b.T
        _mul(b.dy[T - 1], d[T - 1], b.da[T - 1])
        for dy_t, d_t, da_t, da_next in reversed(b.bwd):
            _dot(da_next, W_hh, tmp)  # dh_t = dy_t + da_{t+1} W_hh
            _add(tmp, dy_t, tmp)
            _mul(tmp, d_t, da_t)
        # every step's weight and bias gradients: one matmul each over T*N rows
        _matmul(b.da_flat.T, b.xe, b.gwx)
        _matmul(b.da_flat.T, b.h_prev, b.gwh)
        np.copyto(b.gbh, b.gwx[:, I])  # db_hh = db_ih
        return loss, {"weight_ih": b.gwx[:, :I], "weight_hh": b.gwh,
                      "bias_ih": b.gwx[:, I], "bias_hh": b.gbh}


class LSTM(_Step):
    """PyTorch's LSTM (gates i, f, g, o)."""

    def _allocate(self, T, N, I, H, O, dtype):
        b = self._common(T, N, I, H, O, dtype, H)
        G = 4 * H
        # exp(-a) for the sigmoid gates i, f, o and exp(-2a) for g = tanh(a_g)
        b.k = np.repeat(np.array([-1.0, -1.0, -2.0, -1.0], dtype), H)
        b.wx = np.empty((I + 1, G), dtype)  # k [W_ih^T ; b_ih + b_hh]
        b.wh = np.empty((H, G), dtype)      # k W_hh^T
        b.s = np.empty((T, N, G), dtype)    # pre-activations, then i, f, g, o in place
        b.s_flat = b.s.reshape(T * N, G)
        b.c = np.zeros((T + 1, N, H), dtype)  # c[0] = 0
        b.tc = np.empty((T, N, H), dtype)   # tanh(c_t)
        b.tmp = np.empty((N, G), dtype)
        b.ig = np.empty((N, H), dtype)
        # backward: factors [P_i, P_f, P_g, P_o, K] per step, with
        # da_{i,f,g} = dc * P_{i,f,g}, da_o = dh * P_o, and dc_t += dh_t * K
        b.p = np.empty((T, N, 5, H), dtype)
        b.da = np.empty((T, N, 5, H), dtype)  # [da_i, da_f, da_g, da_o | dh K]
        b.da_gates = b.da.reshape(T * N, 5 * H)[:, :G]  # what dW and db are made of
        b.dh = np.empty((N, 1, H), dtype)  # (N, 1, H): broadcasts over the gate blocks
        b.dc = np.empty((N, 1, H), dtype)
        b.gwx = np.empty((G, I + 1), dtype)
        b.gwh = np.empty((G, H), dtype)
        b.gbh = np.empty(G, dtype)
        s4 = b.s.reshape(T, N, 4, H)
        b.s4 = s4
        hv = b.h_views
        b.fwd = [(hv[t] if t else None, b.s[t], s4[t, :, 0], s4[t, :, 1], s4[t, :, 2],
                  s4[t, :, 3], b.c[t], b.c[t + 1], b.tc[t], hv[t + 1]) for t in range(T)]
        dy3 = b.dy.reshape(T, N, 1, H)
        b.bwd = [(dy3[t], b.dy[t], b.p[t, :, 3:], b.da[t, :, 3:], b.da[t, :, 4:],
                  b.p[t, :, :3], b.da[t, :, :3], s4[t, :, 1:2],
                  b.da[t + 1, :, :4].reshape(N, G) if t < T - 1 else None) for t in range(T)]
        return b

    def _step(self, b, W_ih, W_hh, b_ih, b_hh, readout, targets):
        k, wh, tmp, ig, I, H = b.k, b.wh, b.tmp, b.ig, b.I, b.H
        exp_tanh = b.exp_tanh
        _mul(W_ih.T, k, b.wx[:I])
        _add(b_ih, b_hh, b.wx[I])
        _mul(b.wx[I], k, b.wx[I])
        _mul(W_hh.T, k, wh)
        _matmul(b.xe, b.wx, b.s_flat)  # every step's input projection, bias included
        for h_prev, s_t, i, f, g, o, c_prev, c_t, tc_t, h_t in b.fwd:
            if h_prev is not None:
                _dot(h_prev, wh, tmp)
                _add(s_t, tmp, s_t)
            _exp(s_t, s_t)            # one exp for all four gates
            _add(s_t, 1.0, s_t)
            _recip(s_t, s_t)          # i, f, sigmoid(2 a_g), o
            _mul(g, 2.0, g)
            _sub(g, 1.0, g)           # g = 2 sigmoid(2 a_g) - 1 = tanh(a_g)
            _mul(f, c_prev, c_t)
            _mul(i, g, ig)
            _add(c_t, ig, c_t)
            if exp_tanh:  # tanh(c) = 2 / (1 + exp(-2c)) - 1
                _mul(c_t, -2.0, tc_t)
                _exp(tc_t, tc_t)
                _add(tc_t, 1.0, tc_t)
                _div(2.0, tc_t, tc_t)
                _sub(tc_t, 1.0, tc_t)
            else:
                _tanh(c_t, tc_t)
            _mul(o, tc_t, h_t)
        loss = self._loss(b, readout, targets)

        # derivative factors of all steps at once, outside the time loop
        s4, p, tc = b.s4, b.p, b.tc
        i, f, g, o = s4[:, :, 0], s4[:, :, 1], s4[:, :, 2], s4[:, :, 3]
        pg = p[:, :, :4]
        _sub(1.0, s4, pg)
        _mul(pg, s4, pg)              # s (1 - s) for all four blocks (g's is replaced)
        _mul(g, g, p[:, :, 2])
        _sub(1.0, p[:, :, 2], p[:, :, 2])  # 1 - g^2
        _mul(p[:, :, 0], g, p[:, :, 0])          # P_i = g i (1 - i)
        _mul(p[:, :, 1], b.c[:-1], p[:, :, 1])   # P_f = c_{t-1} f (1 - f)
        _mul(p[:, :, 2], i, p[:, :, 2])          # P_g = i (1 - g^2)
        _mul(p[:, :, 3], tc, p[:, :, 3])         # P_o = tanh(c) o (1 - o)
        K = p[:, :, 4]
        _mul(tc, tc, K)
        _sub(1.0, K, K)
        _mul(K, o, K)                            # K = o (1 - tanh(c)^2)

        dh, dc, dh2 = b.dh, b.dc, b.dh.reshape(b.N, H)
        dc_t = f_next = None
        for dy3, dy_t, p_ok, da_ok, dhk, p_ifg, da_ifg, f_t, da_next in reversed(b.bwd):
            if da_next is None:  # the last step: dh = dy, dc = dh K
                _mul(dy3, p_ok, da_ok)       # [da_o, dh K] in one call
                dc_t = dhk
            else:
                _dot(da_next, W_hh, dh2)  # dh_t = dy_t + da_{t+1} W_hh
                _add(dh2, dy_t, dh2)
                _mul(dh, p_ok, da_ok)        # [da_o, dh K] in one call
                _mul(dc_t, f_next, dc)       # dc_t = dc_{t+1} f_{t+1} + dh_t K_t
                _add(dc, dhk, dc)
                dc_t = dc
            _mul(dc_t, p_ifg, da_ifg)        # [da_i, da_f, da_g] in one call
            f_next = f_t
        # every step's weight and bias gradients: one matmul each over T*N rows
        _matmul(b.da_gates.T, b.xe, b.gwx)
        _matmul(b.da_gates.T, b.h_prev, b.gwh)
        np.copyto(b.gbh, b.gwx[:, I])  # db_hh = db_ih
        return loss, {"weight_ih": b.gwx[:, :I], "weight_hh": b.gwh,
                      "bias_ih": b.gwx[:, I], "bias_hh": b.gbh}


class GRU(_Step):
    """PyTorch's GRU (gates r, z, n): n = tanh(x_n + r * (h W_hn^T + b_hn))."""

    def _allocate(self, T, N, I, H, O, dtype):
        b = self._common(T, N, I, H, O, dtype, H + 1)  # hs rows are [h | 1]
        G = 3 * H
        b.kn = -2.0 if b.exp_tanh else 1.0
        b.k = np.repeat(np.array([-1.0, -1.0, b.kn], dtype), H)  # exp(-a) for r, z
        b.wx = np.empty((I + 1, G), dtype)  # k [W_ih^T ; b_ih + (b_hr, b_hz, 0)]
        b.wh = np.zeros((H + 1, G), dtype)  # k [W_hh^T ; (0, 0, b_hn)]
        b.a = np.empty((T, N, G), dtype)    # input projections, then r, z, n in place
        b.a_flat = b.a.reshape(T * N, G)
        b.hp = np.empty((T, N, G), dtype)   # k (h_{t-1} W_hh^T + (0, 0, b_hn)): kn h_n for backward
        b.tmp = np.empty((N, H), dtype)
        b.tmp_all = np.empty((T, N, H), dtype)
        # backward: [F_r, F_z, F_n] with da_z = dh F_z, da_n = dh F_n, da_r = da_n F_r
        b.f = np.empty((T, N, 3, H), dtype)
        b.rv = np.ones((T, N, 3, H), dtype)  # [1, 1, r]: the hidden side's da is da * rv
        b.dax = np.empty((T, N, 3, H), dtype)
        b.dah = np.empty((T, N, 3, H), dtype)
        b.dh = np.empty((N, 1, H), dtype)
        b.gwx = np.empty((G, I + 1), dtype)  # [dW_ih | db_ih]
        b.gwh = np.empty((G, H + 1), dtype)  # [dW_hh | db_hh]
        a3, hp3 = b.a.reshape(T, N, 3, H), b.hp.reshape(T, N, 3, H)
        b.a3, b.hp3 = a3, hp3
        he = [b.hs[t] for t in range(T + 1)]  # [h | 1] rows
        hv = b.h_views
        b.fwd = [(he[t], b.hp[t], b.a[t, :, :2 * H], b.hp[t, :, :2 * H], a3[t, :, 0],
                  a3[t, :, 1], a3[t, :, 2], hp3[t, :, 2], hv[t], hv[t + 1]) for t in range(T)]
        dy3 = b.dy.reshape(T, N, 1, H)
        def flat(v):
            return v.reshape(N, G)

        b.bwd = [(dy3[t], b.dy[t], b.f[t, :, 1:], b.dax[t, :, 1:], b.dax[t, :, 2], b.f[t, :, 0],
                  b.dax[t, :, 0], flat(b.dax[t]), flat(b.rv[t]), flat(b.dah[t]), a3[t, :, 1],
                  flat(b.dah[t + 1]) if t < T - 1 else None) for t in range(T)]
        return b

    def _step(self, b, W_ih, W_hh, b_ih, b_hh, readout, targets):
        k, wh, tmp, exp_tanh, I, H = b.k, b.wh, b.tmp, b.exp_tanh, b.I, b.H
        _mul(W_ih.T, k, b.wx[:I])
        bx = b.wx[I]
        _add(b_ih, b_hh, bx)
        bx[2 * H:] = b_ih[2 * H:]  # b_hn stays with the hidden side: r scales it
        _mul(bx, k, bx)
        _mul(W_hh.T, k, wh[:H])
        _mul(b_hh[2 * H:], b.kn, wh[H, 2 * H:])
        _matmul(b.xe, b.wx, b.a_flat)  # every step's input projection, biases included
        for h_e, hp_t, a_rz, hp_rz, r, z, n, hn, h_prev, h_t in b.fwd:
            _dot(h_e, wh, hp_t)     # [h | 1] @ [W_hh^T ; b]: b_hn rides along
            _add(a_rz, hp_rz, a_rz)
            _exp(a_rz, a_rz)           # one exp for r and z
            _add(a_rz, 1.0, a_rz)
            _recip(a_rz, a_rz)
            _mul(r, hn, tmp)
            _add(n, tmp, n)
            if exp_tanh:  # tanh(a) = 2 / (1 + exp(-2a)) - 1, the -2 already in n
                _exp(n, n)
                _add(n, 1.0, n)
                _div(2.0, n, n)
                _sub(n, 1.0, n)
            else:
                _tanh(n, n)
            _sub(h_prev, n, tmp)       # h_t = n + z (h_{t-1} - n)
            _mul(tmp, z, tmp)
            _add(tmp, n, h_t)
        loss = self._loss(b, readout, targets)

        # derivative factors of all steps at once, outside the time loop
        a3, f, t_all = b.a3, b.f, b.tmp_all
        r, z, n = a3[:, :, 0], a3[:, :, 1], a3[:, :, 2]
        frz = f[:, :, :2]
        _sub(1.0, a3[:, :, :2], frz)
        _mul(frz, a3[:, :, :2], frz)             # r (1 - r), z (1 - z)
        _mul(f[:, :, 0], b.hp3[:, :, 2], f[:, :, 0])
        _mul(f[:, :, 0], 1.0 / b.kn, f[:, :, 0])  # F_r = h_n r (1 - r)
        _sub(b.hs[:-1, :, :H], n, t_all)
        _mul(f[:, :, 1], t_all, f[:, :, 1])      # F_z = (h_{t-1} - n) z (1 - z)
        fn = f[:, :, 2]
        _mul(n, n, fn)
        _sub(1.0, fn, fn)
        _sub(1.0, z, t_all)
        _mul(fn, t_all, fn)                      # F_n = (1 - z)(1 - n^2)
        np.copyto(b.rv[:, :, 2], r)

        dh = b.dh
        dh2 = dh.reshape(b.N, H)
        dh_next = z_next = None
        for dy3, dy_t, f_zn, da_zn, da_n, f_r, da_r, dax, rv, dah, z_t, dah_next in reversed(b.bwd):
            if dah_next is None:  # the last step: dh = dy
                dh_t, dh3 = dy_t, dy3
            else:  # dh_t = dy_t + dh_{t+1} z_{t+1} + dah_{t+1} W_hh
                _mul(dh_next, z_next, tmp)
                _dot(dah_next, W_hh, dh2)
                _add(dh2, dy_t, dh2)
                _add(dh2, tmp, dh2)
                dh_t, dh3 = dh2, dh
            _mul(dh3, f_zn, da_zn)     # [da_z, da_n] in one call
            _mul(da_n, f_r, da_r)      # da_r = da_n F_r
            _mul(dax, rv, dah)         # the hidden side: [da_r, da_z, da_n r]
            dh_next, z_next = dh_t, z_t
        # every step's weight and bias gradients: one matmul each over T*N rows
        _matmul(b.dax.reshape(-1, 3 * H).T, b.xe, b.gwx)
        _matmul(b.dah.reshape(-1, 3 * H).T, b.h_prev, b.gwh)
        return loss, {"weight_ih": b.gwx[:, :I], "weight_hh": b.gwh[:, :H],
                      "bias_ih": b.gwx[:, I], "bias_hh": b.gwh[:, H]}


def make_step(kind: str) -> _Step:
    """A training step for ``kind`` ("rnn", "lstm" or "gru") with its own buffer cache."""
    return {"rnn": RNN, "lstm": LSTM, "gru": GRU}[kind]()
