"""The formulas in jax.numpy, jitted per spec (no jax.grad)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)


@functools.partial(jax.jit, static_argnums=3)
def _grads(params, X, Y, spec):
    zs, acts = [None], [X]
    for (W, b), name in zip(params, spec.activations):
        zs.append(acts[-1] @ W + b)
        acts.append(
            jax.nn.identity(zs[-1]) if name == "identity" else getattr(jax.nn, name)(zs[-1])
        )
    H = acts[-1]
    if spec.loss == "square":
        dA = 2 * (H - Y)
    elif spec.loss == "output":
        dA = jnp.ones_like(H)
    elif spec.loss == "logistic":
        dA = jax.nn.sigmoid(H) - Y
    else:
        dA = jax.nn.softmax(H, axis=1) * Y.sum(axis=1, keepdims=True) - Y
    dA = dA / X.shape[0]
    out = []
    for layer in range(len(params), 0, -1):
        z, name = zs[layer], spec.activations[layer - 1]
        slope = {
            "identity": jnp.ones_like(z),
            "relu": (z > 0).astype(z.dtype),
            "leaky_relu": jnp.where(z >= 0, 1.0, 0.01),
            "sigmoid": jax.nn.sigmoid(z) * (1 - jax.nn.sigmoid(z)),
            "tanh": 1 - jnp.tanh(z) ** 2,
            "softplus": jax.nn.sigmoid(z),
        }[name]
        delta = dA * slope
        out.insert(0, (acts[layer - 1].T @ delta, delta.sum(axis=0)))
        dA = delta @ params[layer - 1][0].T
    return out


def gradients(params, X, Y, spec):
    return [(np.asarray(a), np.asarray(b)) for a, b in _grads(params, X, Y, spec)]
