"""Backprop implementations with the bugs people really write, for testing the checkers.

``buggy(bug)`` returns an implementation with the contract's signature that follows the
lecture's algorithm except for one mistake. ``EXPECTED`` says which (layer, parameter) pairs a
bug must be reported at on the case it is tested with (None: only that the verdict is a fail).
"""

from __future__ import annotations

import numpy as np

from manual import activation, activation_derivative, loss_derivative


def buggy(bug: str):
    """An implementation of the contract with one named bug."""

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
        dH = loss_derivative(np, spec.loss, A[L], Y) / n
        if bug == "loss_sign":
            dH = -dH
        grads = [None] * L
        dA = dH
        for layer in range(L, 0, -1):
            name = spec.activations[layer - 1]
            if bug == "forgot_g_prime" and layer < L:
                delta = dA
            elif bug == "g_prime_at_a" and layer < L:
                delta = dA * activation_derivative(np, name, A[layer])
            else:
                delta = dA * activation_derivative(np, name, Z[layer])
            dW = A[layer - 1].T @ delta
            db = delta.mean(axis=0) if bug == "bias_mean" else delta.sum(axis=0)
            if bug == "deep_layer_sign" and layer == 1 and L >= 3:
                dW = -dW
            grads[layer - 1] = (dW, db)
            W = params[layer - 1][0]
            dA = delta @ (W if bug == "wrong_transpose" else W.T)
        result = [(dW.astype(X.dtype), db.astype(X.dtype)) for dW, db in grads]
        if bug == "float32_inside":
            result = [(dW.astype(np.float64), db.astype(np.float64)) for dW, db in result]
        return result

    gradients.__name__ = f"buggy_{bug}"
    return gradients


def perturbed(implementation, layer: int, param: str, index: tuple[int, ...], amount: float):
    """``implementation`` with one entry of ∂R/∂param^(layer) moved by ``amount``."""

    def gradients(params, X, Y, spec):
        grads = [[np.array(dW), np.array(db)] for dW, db in implementation(params, X, Y, spec)]
        grads[layer - 1]["Wb".index(param)][index] += amount
        return [tuple(pair) for pair in grads]

    return gradients
