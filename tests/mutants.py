"""Backprop implementations with the bugs people really write, for testing the checkers.

``buggy(bug)`` returns an implementation with the contract's signature that follows the
lecture's algorithm except for one mistake, named in ``BUGS``. Each is also a module attribute
(``mutants:forgot_g_prime``), so the command line can load it by name.
"""

from __future__ import annotations

import numpy as np

from manual import activation, activation_derivative, loss_derivative
from manual import gradients as manual_gradients

#: bug -> what goes wrong (and where it shows)
BUGS = {
    "forgot_g_prime": "formula 2 without g'(z) in hidden layers",
    "g_prime_at_a": "g' evaluated at a instead of z in hidden layers",
    "missing_1_over_n": "the 1/n of the empirical risk left out (only n > 1)",
    "loss_sign": "the loss derivative with the wrong sign",
    "bias_mean": "∂R/∂b averaged over the batch, not summed (only n > 1)",
    "deep_layer_sign": "∂R/∂W^(1) negated in networks of depth 3 or more (only deep layers)",
    "float32_inside": "computed in float32 and returned as float64 (precision lost)",
    "wrong_transpose": "formula 1 with W instead of W^T",
    "square_no_factor_2": "square loss derivative H - y instead of 2 (H - y) (output layer)",
    "output_g_prime_skipped": "g' of the output activation left out (output layer)",
    "logistic_forgot_sigmoid": "logistic loss derivative H - y instead of sigmoid(H) - y",
    "tanh_prime_unsquared": "tanh' as 1 - tanh(z) instead of 1 - tanh(z)^2",
    "leaky_slope": "leaky_relu' with slope 0.1 instead of 0.01 for z < 0",
    "first_example_dW": "∂R/∂W from the first example of the batch only (only n > 1)",
    "squeeze_output": "the output squeezed, so that (n,) - (n, 1) broadcasts (only width 1)",
    "weight_decay": "an L2 term 1e-3 W added to ∂R/∂W that R does not have",
    "next_layer_g_prime": "g' of layer l taken from layer l+1's activation (off by one)",
}


def _derivative(bug: str, name: str, z: np.ndarray) -> np.ndarray:
    if bug == "tanh_prime_unsquared" and name == "tanh":
        return 1 - np.tanh(z)
    if bug == "leaky_slope" and name == "leaky_relu":
        return np.where(z >= 0, 1.0, 0.1)
    return activation_derivative(np, name, z)


def _output_derivative(bug: str, loss: str, H: np.ndarray, Y: np.ndarray) -> np.ndarray:
    if bug == "square_no_factor_2" and loss == "square":
        return H - Y
    if bug == "logistic_forgot_sigmoid" and loss == "logistic":
        return H - Y
    if bug == "squeeze_output":
        return loss_derivative(np, loss, np.squeeze(H), np.squeeze(Y))
    return loss_derivative(np, loss, H, Y)


def buggy(bug: str):
    """An implementation of the contract with one named bug (see ``BUGS``)."""
    if bug not in BUGS:
        raise ValueError(f"unknown bug {bug!r}")

    def gradients(params, X, Y, spec):
        dtype = np.float32 if bug == "float32_inside" else X.dtype
        params = [(W.astype(dtype), b.astype(dtype)) for W, b in params]
        X, Y = X.astype(dtype), Y.astype(dtype)
        L = spec.depth
        Z, A = [None], [X]
        for (W, b), name in zip(params, spec.activations, strict=True):
            Z.append(A[-1] @ W + b)
            A.append(activation(np, name, Z[-1]))
        n = 1 if bug == "missing_1_over_n" else X.shape[0]
        dH = _output_derivative(bug, spec.loss, A[L], Y) / n
        if bug == "loss_sign":
            dH = -dH
        grads = [None] * L
        dA = dH
        for layer in range(L, 0, -1):
            name = spec.activations[layer - 1]
            if bug == "next_layer_g_prime" and layer < L:
                name = spec.activations[layer]
            if bug == "forgot_g_prime" and layer < L:
                delta = dA
            elif bug == "g_prime_at_a" and layer < L:
                delta = dA * _derivative(bug, name, A[layer])
            elif bug == "output_g_prime_skipped" and layer == L:
                delta = dA
            else:
                delta = dA * _derivative(bug, name, Z[layer])
            if bug == "first_example_dW":
                dW = np.outer(A[layer - 1][0], delta[0])
            else:
                dW = A[layer - 1].T @ delta
            db = delta.mean(axis=0) if bug == "bias_mean" else delta.sum(axis=0)
            if bug == "deep_layer_sign" and layer == 1 and L >= 3:
                dW = -dW
            W = params[layer - 1][0]
            if bug == "weight_decay":
                dW = dW + 1e-3 * W
            grads[layer - 1] = (dW, db)
            dA = delta @ (W if bug == "wrong_transpose" else W.T)
        result = [(dW.astype(X.dtype), db.astype(X.dtype)) for dW, db in grads]
        if bug == "float32_inside":
            result = [(dW.astype(np.float64), db.astype(np.float64)) for dW, db in result]
        return result

    gradients.__name__ = gradients.__qualname__ = bug
    return gradients


globals().update({bug: buggy(bug) for bug in BUGS})


def perturbed(implementation, layer: int, param: str, index: tuple[int, ...], amount: float):
    """``implementation`` with one entry of ∂R/∂param^(layer) moved by ``amount``."""

    def gradients(params, X, Y, spec):
        grads = [[np.array(dW), np.array(db)] for dW, db in implementation(params, X, Y, spec)]
        grads[layer - 1]["Wb".index(param)][index] += amount
        return [tuple(pair) for pair in grads]

    return gradients


# ---------------------------------------------------------------------------------------------
# Mistakes that show only in bigger networks, and failures of other kinds than wrong values.
# Each is a plain function, written the way other people write backprop.


def _forward(params, X, spec, skip_first_bias=False):
    Z, A = [None], [X]
    for layer, ((W, b), name) in enumerate(zip(params, spec.activations, strict=True), start=1):
        Z.append(A[-1] @ W + (0 if skip_first_bias and layer == 1 else b))
        A.append(activation(np, name, Z[-1]))
    return Z, A


def _backward(params, Z, A, spec, dH, slope=activation_derivative):
    """The lecture's formulas from ∂R/∂H down; ``slope(np, name, z)`` gives g'."""
    grads = [None] * spec.depth
    dA = dH
    for layer in range(spec.depth, 0, -1):
        delta = dA * slope(np, spec.activations[layer - 1], Z[layer])
        grads[layer - 1] = (A[layer - 1].T @ delta, delta.sum(axis=0))
        dA = delta @ params[layer - 1][0].T
    return grads


def far_layers_without_g_prime(params, X, Y, spec):
    """Formula 2 leaves out g' in every layer four or more below the output (depth >= 5)."""
    Z, A = _forward(params, X, spec)
    L = spec.depth
    dA = loss_derivative(np, spec.loss, A[L], Y) / len(X)
    grads = [None] * L
    for layer in range(L, 0, -1):
        g = activation_derivative(np, spec.activations[layer - 1], Z[layer])
        delta = dA if L - layer >= 4 else dA * g
        grads[layer - 1] = (A[layer - 1].T @ delta, delta.sum(axis=0))
        dA = delta @ params[layer - 1][0].T
    return grads


def unkept_layer_gradient(params, X, Y, spec):
    """In networks of depth 5 or more, layer 2's ∂R/∂W and ∂R/∂b are left at zero (never
    stored); ∂R/∂z^(2) is computed and carried down right, so layer 1 is right."""
    Z, A = _forward(params, X, spec)
    grads = _backward(params, Z, A, spec, loss_derivative(np, spec.loss, A[-1], Y) / len(X))
    if spec.depth >= 5:
        grads[1] = (np.zeros_like(grads[1][0]), np.zeros_like(grads[1][1]))
    return grads


def blocked_formula_1(params, X, Y, spec):
    """Formula 1 summed over the next layer's units in blocks of 8, the last block only when it
    is full (a layer of width 9 to 15 loses its last units; widths up to 8 are right)."""
    Z, A = _forward(params, X, spec)
    L = spec.depth
    dA = loss_derivative(np, spec.loss, A[L], Y) / len(X)
    grads = [None] * L
    for layer in range(L, 0, -1):
        delta = dA * activation_derivative(np, spec.activations[layer - 1], Z[layer])
        grads[layer - 1] = (A[layer - 1].T @ delta, delta.sum(axis=0))
        W = params[layer - 1][0]
        dA = np.zeros((len(X), W.shape[0]))
        for start in range(0, max(1, W.shape[1] - 7), 8):
            dA += delta[:, start : start + 8] @ W[:, start : start + 8].T
    return grads


def per_chunk_normalised(params, X, Y, spec):
    """The batch in chunks of 8 examples, each chunk's sum divided by the chunk size 8 rather
    than by n (right for n <= 8, a factor n/8 off beyond)."""
    Z, A = _forward(params, X, spec)
    L, n = spec.depth, len(X)
    dH = loss_derivative(np, spec.loss, A[L], Y) / min(n, 8)
    return _backward(params, Z, A, spec, dH)


class _Accumulating:
    """Gradient buffers kept on the object and never reset between calls."""

    def __init__(self):
        self.buffers = {}

    def __call__(self, params, X, Y, spec):
        Z, A = _forward(params, X, spec)
        grads = _backward(params, Z, A, spec, loss_derivative(np, spec.loss, A[-1], Y) / len(X))
        out = []
        for layer, (dW, db) in enumerate(grads):
            key = (layer, dW.shape)
            if key not in self.buffers:
                self.buffers[key] = [np.zeros_like(dW), np.zeros_like(db)]
            self.buffers[key][0] += dW
            self.buffers[key][1] += db
            out.append((self.buffers[key][0].copy(), self.buffers[key][1].copy()))
        return out


stateful_buffers = _Accumulating()


def dropout_left_on(params, X, Y, spec):
    """Dropout (p = 0.1, inverted scaling) still on in the hidden layers."""
    rng = np.random.default_rng()
    Z, A = [None], [X]
    masks = [None]
    for layer, ((W, b), name) in enumerate(zip(params, spec.activations, strict=True), start=1):
        Z.append(A[-1] @ W + b)
        keep = np.ones_like(Z[-1])
        if layer < spec.depth:
            keep = (rng.random(Z[-1].shape) >= 0.1) / 0.9
        masks.append(keep)
        A.append(activation(np, name, Z[-1]) * keep)
    L = spec.depth
    dA = loss_derivative(np, spec.loss, A[L], Y) / len(X)
    grads = [None] * L
    for layer in range(L, 0, -1):
        g = activation_derivative(np, spec.activations[layer - 1], Z[layer]) * masks[layer]
        delta = dA * g
        grads[layer - 1] = (A[layer - 1].T @ delta, delta.sum(axis=0))
        dA = delta @ params[layer - 1][0].T
    return grads


def forward_without_b1(params, X, Y, spec):
    """The forward pass leaves out b^(1); the backward pass is right for that forward pass."""
    Z, A = _forward(params, X, spec, skip_first_bias=True)
    return _backward(params, Z, A, spec, loss_derivative(np, spec.loss, A[-1], Y) / len(X))


def norm_clip(params, X, Y, spec):
    """The gradient clipped to global norm 1 before it is returned."""
    grads = manual_gradients(params, X, Y, spec)
    norm = np.sqrt(sum((dW**2).sum() + (db**2).sum() for dW, db in grads))
    scale = min(1.0, 1.0 / norm) if norm > 0 else 1.0
    return [(dW * scale, db * scale) for dW, db in grads]


def output_units_mean(params, X, Y, spec):
    """The loss averaged over the output units as well as over the examples (an extra 1/n_L)."""
    Z, A = _forward(params, X, spec)
    dH = loss_derivative(np, spec.loss, A[-1], Y) / (len(X) * spec.widths[-1])
    return _backward(params, Z, A, spec, dH)


def softmax_unshifted(params, X, Y, spec):
    """The softmax as e^H / Σ e^H, without subtracting the maximum first."""
    Z, A = _forward(params, X, spec)
    H = A[-1]
    if spec.loss == "softmax_cross_entropy":
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(H)
            dH = e / e.sum(axis=1, keepdims=True) * Y.sum(axis=1, keepdims=True) - Y
    else:
        dH = loss_derivative(np, spec.loss, H, Y)
    return _backward(params, Z, A, spec, dH / len(X))


def _sigmoid_prime_ratio(xp, name, z):
    if name != "sigmoid":
        return activation_derivative(xp, name, z)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(-z)
        return e / (1 + e) ** 2


def sigmoid_prime_exp_ratio(params, X, Y, spec):
    """sigmoid' as e^-z / (1 + e^-z)^2 with no guard: inf / inf = NaN below z = -709."""
    Z, A = _forward(params, X, spec)
    dH = loss_derivative(np, spec.loss, A[-1], Y) / len(X)
    return _backward(params, Z, A, spec, dH, slope=_sigmoid_prime_ratio)


def returns_float32(params, X, Y, spec):
    """Right formulas, but the result handed back in float32."""
    return [
        (dW.astype(np.float32), db.astype(np.float32))
        for dW, db in manual_gradients(params, X, Y, spec)
    ]


def nan_then_unsupported(params, X, Y, spec):
    """NaN for networks of depth 3 or more, and NotImplementedError for depth 1."""
    if spec.depth == 1:
        raise NotImplementedError("single-layer networks are not supported")
    grads = manual_gradients(params, X, Y, spec)
    if spec.depth >= 3:
        grads[0][0][...] = np.nan
    return grads


def hangs(params, X, Y, spec):
    """Never returns."""
    while True:
        pass


def transposed_weight_gradients(params, X, Y, spec):
    """dW handed back as (n_l, n_{l-1})."""
    return [(dW.T, db) for dW, db in manual_gradients(params, X, Y, spec)]


def _relu_prime_at_zero_one(xp, name, z):
    if name == "relu":
        return (z >= 0).astype(z.dtype)
    return activation_derivative(xp, name, z)


def relu_prime_at_zero_one(params, X, Y, spec):
    """relu'(z) as (z >= 0): 1 at z = 0, where jax.nn.relu (and the contract) has 0."""
    Z, A = _forward(params, X, spec)
    dH = loss_derivative(np, spec.loss, A[-1], Y) / len(X)
    return _backward(params, Z, A, spec, dH, slope=_relu_prime_at_zero_one)


#: name -> the failure kind ``check`` must report for it at default settings
KINDS = {
    "far_layers_without_g_prime": "wrong_values",
    "unkept_layer_gradient": "wrong_values",
    "blocked_formula_1": "wrong_values",
    "per_chunk_normalised": "wrong_values",
    "stateful_buffers": "nondeterministic",
    "dropout_left_on": "nondeterministic",
    "forward_without_b1": "wrong_values",
    "norm_clip": "wrong_values",
    "output_units_mean": "wrong_values",
    "softmax_unshifted": "non_finite",
    "sigmoid_prime_exp_ratio": "non_finite",
    "returns_float32": "wrong_values",
    "nan_then_unsupported": "non_finite",
    "transposed_weight_gradients": "bad_structure",
    "relu_prime_at_zero_one": "wrong_values",
}


def raises_on_tanh(params, X, Y, spec):
    """Right, except that it raises on any network with a tanh layer."""
    if "tanh" in spec.activations:
        raise ValueError("tanh is not written yet")
    return manual_gradients(params, X, Y, spec)
