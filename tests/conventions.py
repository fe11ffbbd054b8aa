"""Implementations written in other people's conventions, each checked with flags alone.

Each is written the way such code is usually written, independently of ``manual``, and each
has a twin with one planted mistake (``*_bug``). The flags that check them (README,
"Conventions"):

- ``pytorch_style``: layers as in PyTorch, W^(l) stored (n_l, n_{l-1}), ``x @ W.T + b``, every
  activation and loss of the contract: ``--layout out-in``.
- ``network_py``: a textbook network.py: column vectors, W (n_l, n_{l-1}), b (n_l, 1), sigmoid
  in every layer whatever the spec says, the quadratic cost ½ Σ (a - y)², the gradient summed
  over the mini-batch: ``--layout out-in --examples-as columns --bias column --reduction sum
  --loss-scale 0.5 --activations sigmoid --output-activations sigmoid --losses square``.
- ``two_layer_net``: a course's two-layer softmax classifier: a dict of W1, b1, W2, b2, relu
  then class scores, integer labels, the mean softmax loss: ``--params dict --labels --depth 2
  --activations relu --output-activations identity --losses softmax_cross_entropy``.
- ``flat_tanh``: for an optimizer that wants one vector: the parameters and the gradient as the
  lecture's w, tanh hidden layers, a linear or tanh output and the square loss only, raising
  NotImplementedError for the rest: ``--params vector --activations tanh --output-activations
  identity,tanh --losses square`` (``--params vector`` alone passes too: the cases it declines
  are skipped and counted).
"""

from __future__ import annotations

import itertools

import numpy as np

# --- a PyTorch-style layer stack -----------------------------------------------------------------


def _act(name, z):
    if name == "identity":
        return z
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z >= 0, z, 0.01 * z)
    if name == "sigmoid":
        return 0.5 * (1 + np.tanh(z / 2))
    if name == "tanh":
        return np.tanh(z)
    return np.logaddexp(0, z)  # softplus


def _act_grad(name, z):
    if name == "identity":
        return np.ones_like(z)
    if name == "relu":
        return (z > 0).astype(z.dtype)
    if name == "leaky_relu":
        return np.where(z >= 0, 1.0, 0.01).astype(z.dtype)
    if name == "sigmoid":
        s = _act("sigmoid", z)
        return s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(z) ** 2
    return _act("sigmoid", z)


def _loss_grad(loss, out, Y):
    """∂(mean loss)/∂out, examples as rows."""
    n = out.shape[0]
    if loss == "square":
        return 2 * (out - Y) / n
    if loss == "output":
        return np.ones_like(out) / n
    if loss == "logistic":
        return (_act("sigmoid", out) - Y) / n
    shifted = out - out.max(axis=1, keepdims=True)
    p = np.exp(shifted)
    p /= p.sum(axis=1, keepdims=True)
    return (p * Y.sum(axis=1, keepdims=True) - Y) / n


def _torch_like(layers, X, Y, spec, averaged_bias):
    inputs, pre = [], []
    h = X
    for (W, b), name in zip(layers, spec.activations, strict=True):
        inputs.append(h)
        z = h @ W.T + b  # nn.Linear: weight (out_features, in_features)
        pre.append(z)
        h = _act(name, z)
    delta = _loss_grad(spec.loss, h, Y) * _act_grad(spec.activations[-1], pre[-1])
    grads = []
    for i in range(len(layers) - 1, -1, -1):
        grad_W = delta.T @ inputs[i]  # (out, in), as the weight is stored
        grad_b = delta.mean(axis=0) if averaged_bias else delta.sum(axis=0)
        grads.append((grad_W, grad_b))
        if i:
            delta = (delta @ layers[i][0]) * _act_grad(spec.activations[i - 1], pre[i - 1])
    return grads[::-1]


def pytorch_style(layers, X, Y, spec):
    return _torch_like(layers, X, Y, spec, averaged_bias=False)


def pytorch_style_bug(layers, X, Y, spec):
    """grad_b averaged over the batch instead of summed (formula 4)."""
    return _torch_like(layers, X, Y, spec, averaged_bias=True)


# --- a textbook network.py: column vectors, sigmoid, quadratic cost, summed ----------------------


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _sigmoid_prime(z):
    return _sigmoid(z) * (1 - _sigmoid(z))


def _network_py(weights_and_biases, x, y, spec, prime_of_activation):
    """Backprop over a mini-batch stored as columns; returns (nabla_w, nabla_b) per layer,
    summed over the examples."""
    weights = [w for w, _ in weights_and_biases]
    biases = [b for _, b in weights_and_biases]
    activation = x
    activations = [x]
    zs = []
    for b, w in zip(biases, weights, strict=True):
        z = np.dot(w, activation) + b
        zs.append(z)
        activation = _sigmoid(z)
        activations.append(activation)
    cost_derivative = activations[-1] - y  # of 1/2 ||a - y||^2

    def prime(layer):
        return _sigmoid_prime(activations[layer] if prime_of_activation else zs[layer - 1])

    delta = cost_derivative * prime(len(zs))
    nabla_b = [None] * len(biases)
    nabla_w = [None] * len(weights)
    nabla_b[-1] = delta.sum(axis=1, keepdims=True)
    nabla_w[-1] = np.dot(delta, activations[-2].T)
    for k in range(2, len(weights) + 1):
        delta = np.dot(weights[-k + 1].T, delta) * prime(len(zs) - k + 1)
        nabla_b[-k] = delta.sum(axis=1, keepdims=True)
        nabla_w[-k] = np.dot(delta, activations[-k - 1].T)
    return list(zip(nabla_w, nabla_b, strict=True))


def network_py(weights_and_biases, x, y, spec):
    return _network_py(weights_and_biases, x, y, spec, prime_of_activation=False)


def network_py_bug(weights_and_biases, x, y, spec):
    """σ' taken at the activation a instead of at z."""
    return _network_py(weights_and_biases, x, y, spec, prime_of_activation=True)


# --- a course's two-layer softmax classifier ------------------------------------------------------


def _two_layer(params, X, y, spec, mean_twice):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    N = X.shape[0]
    hidden = np.maximum(0, X.dot(W1) + b1)
    scores = hidden.dot(W2) + b2
    scores -= scores.max(axis=1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(axis=1, keepdims=True)
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    grads = {"W2": hidden.T.dot(dscores), "b2": dscores.sum(axis=0)}
    dhidden = dscores.dot(W2.T)
    dhidden[hidden <= 0] = 0
    grads["W1"] = X.T.dot(dhidden) / (N if mean_twice else 1)
    grads["b1"] = dhidden.sum(axis=0)
    return grads


def two_layer_net(params, X, y, spec):
    return _two_layer(params, X, y, spec, mean_twice=False)


def two_layer_net_bug(params, X, y, spec):
    """dW1 divided by N a second time (formula 3 of layer 1)."""
    return _two_layer(params, X, y, spec, mean_twice=True)


# --- one flat vector -----------------------------------------------------------------------------


def _unflatten(w, widths):
    layers, start = [], 0
    for fan_in, fan_out in itertools.pairwise(widths):
        W = w[start : start + fan_in * fan_out].reshape(fan_in, fan_out)
        start += fan_in * fan_out
        layers.append((W, w[start : start + fan_out]))
        start += fan_out
    return layers


def _flat(w, X, Y, spec, forget_output_slope):
    *hidden, last = spec.activations
    if any(name != "tanh" for name in hidden) or last not in ("identity", "tanh"):
        raise NotImplementedError("tanh hidden layers and an identity or tanh output only")
    if spec.loss != "square":
        raise NotImplementedError("the square loss only")
    layers = _unflatten(w, spec.widths)
    outs = [X]
    for W, b in layers[:-1]:
        outs.append(np.tanh(outs[-1] @ W + b))
    W, b = layers[-1]
    H = outs[-1] @ W + b
    if last == "tanh":
        H = np.tanh(H)
    delta = 2 * (H - Y) / len(X)
    if last == "tanh" and not forget_output_slope:
        delta = delta * (1 - H**2)
    pieces = []
    for i in range(len(layers) - 1, -1, -1):
        pieces = [(outs[i].T @ delta).ravel(), delta.sum(axis=0), *pieces]
        if i:
            delta = (delta @ layers[i][0].T) * (1 - outs[i] ** 2)
    return np.concatenate(pieces)


def flat_tanh(w, X, Y, spec):
    return _flat(w, X, Y, spec, forget_output_slope=False)


def flat_tanh_bug(w, X, Y, spec):
    """The output layer's g' left out of δ^(L) for a tanh output."""
    return _flat(w, X, Y, spec, forget_output_slope=True)


#: Each implementation, its planted mistake and the flags that check it.
FLAGS = {
    "pytorch_style": ["--layout", "out-in"],
    "network_py": [
        *("--layout", "out-in", "--examples-as", "columns", "--bias", "column"),
        *("--reduction", "sum", "--loss-scale", "0.5"),
        *("--activations", "sigmoid", "--output-activations", "sigmoid", "--losses", "square"),
    ],
    "two_layer_net": [
        *("--params", "dict", "--labels", "--depth", "2", "--activations", "relu"),
        *("--output-activations", "identity", "--losses", "softmax_cross_entropy"),
    ],
    "flat_tanh": [
        *("--params", "vector", "--activations", "tanh"),
        *("--output-activations", "identity,tanh", "--losses", "square"),
    ],
}


def keywords(flags: list[str]) -> dict:
    """The flags as keyword arguments of ``reference.harness.check``."""
    out, i = {}, 0
    while i < len(flags):
        key = flags[i][2:].replace("-", "_")
        if key == "labels":
            out[key], i = True, i + 1
        else:
            out[key], i = flags[i + 1], i + 2
    return out
