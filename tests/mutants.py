"""Backprop implementations with the bugs people really write, for testing the checkers.

``buggy(bug)`` returns an implementation with the contract's signature that follows the
lecture's algorithm except for one mistake, named in ``BUGS``. Each is also a module attribute
(``mutants:forgot_g_prime``), so the command line can load it by name.
"""

from __future__ import annotations

import numpy as np

from manual import activation, activation_derivative, loss_derivative

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
