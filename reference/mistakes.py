r"""The common backprop mistakes that explain a wrong gradient exactly, each with its story.

g' left out, g' taken at a instead of z, W^(ℓ+1) not transposed, relu'(0) taken as 1, the output
activation's g' left out, a constant factor on the whole gradient (a missing 1/n, a flipped sign,
a lost 2), a weight-decay penalty R does not have, a bias left out of the forward pass, and
precision lost to float32. Each test compares the candidate with the mistake's own prediction,
computed from the ``jax.grad`` pass's intermediate quantities, to ``EXPLAINS``; a story is told
only where the numbers are exactly that mistake's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reference.autodiff import AutodiffPass, autodiff_backward
from reference.consistency import EXPLAINS, close, highest_wrong
from reference.network import computing_in, jax_activation
from reference.spec import vector_of

__all__ = [
    "case_sizes",
    "constant_factor",
    "factor_story",
    "forward_story",
    "hidden_layer_story",
    "kink_story",
    "kink_story_as_drawn",
    "output_layer_story",
    "passes_standard",
    "penalty",
    "rounding_sized",
    "unnamed_factor",
]


def rounding_sized(
    candidate: list, ref: AutodiffPass, params: list, Y: np.ndarray, spec: Any, wrong: list
) -> bool:
    """Could computing in float32 have made every error?

    The measure is the ``jax.grad`` pass itself, run in float32 on the inputs rounded to
    float32: every wrong entry must be within 16 times that pass's own error (plus float32's
    relative precision of the value), so a float32 computation explains it. A flipped sign or a
    wrong factor is far outside this wherever the value is not rounding noise; where it is
    noise, the candidate's values must also be float32 numbers, or off by under 0.1%.
    """
    for layer, param in wrong:  # errors far above float32's precision: no float32 pass needed
        k = "Wb".index(param)
        true, cand = ref.grads[layer - 1][k], candidate[layer - 1][k]
        if np.max(np.abs(cand - true), initial=0.0) > 1e-3 * np.max(np.abs(true), initial=0.0):
            return False
    low = autodiff_backward(
        [(W.astype(np.float32), b.astype(np.float32)) for W, b in params],
        ref.A[0].astype(np.float32),
        np.asarray(Y).astype(np.float32),
        spec,
    )
    u, tiny = float(np.finfo(np.float32).eps), float(np.finfo(np.float32).tiny)
    representable, relative = True, 0.0
    for layer, param in wrong:
        k = "Wb".index(param)
        true, cand = ref.grads[layer - 1][k], candidate[layer - 1][k]
        float32_error = np.abs(low.grads[layer - 1][k].astype(np.float64) - true)
        allowed = 16 * (float32_error + u * np.abs(true)) + tiny
        if np.any(np.abs(cand - true) > allowed):
            return False
        with np.errstate(over="ignore"):
            representable &= bool(np.all(cand.astype(np.float32).astype(np.float64) == cand))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(cand == true, 0.0, np.abs(cand - true) / np.abs(true))
        relative = max(relative, float(np.nanmax(ratio, initial=0.0)))
    # where float32 itself loses a value, a wrong sign is as close as rounding: then only
    # float32 values, or small relative errors, say "rounding"
    return representable or relative < 1e-3


def passes_standard(result: Any) -> bool:
    """Does the candidate agree under the default numerical standard?"""
    from reference.compare import backprop_error_bound, compare_to_autodiff, compare_to_fd

    bounds = backprop_error_bound(
        result.reference, result.params, result.Y, result.spec, result.dtype
    )
    return (
        compare_to_autodiff(
            result.candidate,
            result.reference,
            result.params,
            result.Y,
            result.spec,
            result.dtype,
            bounds,
        ).ok
        and compare_to_fd(result.candidate, result.fd, bounds).ok
    )


def constant_factor(candidate: list, reference: list) -> float | None:
    """c if the whole candidate gradient is c times the reference (c != 1), else None."""
    cand, ref = vector_of(candidate), vector_of(reference)
    norm = float(ref @ ref)
    if norm == 0 or not np.all(np.isfinite(cand)):
        return None
    factor = float(cand @ ref) / norm
    if abs(factor - 1) <= EXPLAINS or not close(cand, factor * ref):
        return None
    return factor


def _factor_meanings(case: tuple[int, int, int, str]) -> list[tuple[float, str]]:
    """The constant factors a common mistake puts on the whole gradient, with their meaning,
    for a case of batch n, n_0 inputs, n_L outputs and the given loss."""
    n, n_in, n_out, loss = case
    meanings = [(-1.0, "the sign of the loss derivative is flipped (a gradient ascent step)")]
    if n > 1:
        meanings += [
            (float(n), "the 1/n of the empirical risk is missing"),
            (1 / n, "the 1/n of the empirical risk is applied twice"),
        ]
    if n_out > 1:
        meanings.append(
            (
                1 / n_out,
                "the loss is divided by n_L, the number of output units (averaged over "
                "the outputs instead of summed)",
            )
        )
    if n_in != n:
        meanings.append(
            (
                n / n_in,
                "the risk is divided by n_0 (X.shape[1], the inputs) instead of n "
                "(X.shape[0], the examples)",
            )
        )
    if loss == "square":
        meanings += [
            (0.5, "the loss derivative lost a factor 2 (for the square loss, 2 (H - y))"),
            (2.0, "the loss derivative gained a factor 2 (for the square loss, 2 (H - y))"),
        ]
    return meanings


def factor_story(factor: float, evidence: list[tuple[float | None, tuple]]) -> str | None:
    """What a constant factor means: the common mistakes that explain it in every failing case
    seen (``evidence``: each case's factor, None if not constant there, and its sizes); None
    if no common mistake does."""

    def fits(value: float, expected: float) -> bool:
        return abs(value - expected) <= EXPLAINS * max(1.0, abs(expected))

    if any(case_factor is None for case_factor, _ in evidence):
        return None  # a constant of the risk would scale every case seen
    shared: list[str] | None = None
    for case_factor, sizes in evidence:
        here = [meaning for value, meaning in _factor_meanings(sizes) if fits(case_factor, value)]
        shared = here if shared is None else [m for m in shared if m in here]
    if shared:
        if len(shared) == 1:
            return shared[0]
        return " or ".join(shared) + " (the cases seen cannot tell these apart)"
    return None


def unnamed_factor(evidence: list[tuple[float | None, tuple]]) -> str:
    """What a factor no common mistake explains says about the gradient."""
    factors = {round(f, 12) for f, _ in evidence if f is not None}
    if len(factors) > 1:
        return (
            "the factor differs from case to case, so it is no constant of the risk: the whole "
            "gradient is rescaled by something that depends on the case (its norm, as a clip "
            "does, or its size)"
        )
    return (
        "no constant of the risk (-1, n, 1/n, 1/n_L, n/n_0, or 2 for the square loss) is "
        "this factor: the whole gradient is rescaled, as a clip of the gradient's norm does"
    )


def case_sizes(result: Any) -> tuple[int, int, int, str]:
    spec = result.spec
    return (result.reference.A[0].shape[0], spec.widths[0], spec.widths[-1], spec.loss)


def penalty(candidate: list, reference: list, params: list) -> float | None:
    """λ if the candidate is the gradient plus λ W^(ℓ) in every ∂R/∂W^(ℓ) (a weight-decay
    penalty, λ != 0; the biases either right or with λ b^(ℓ) too), else None."""
    diff_W = np.concatenate(
        [np.ravel(c[0] - r[0]) for c, r in zip(candidate, reference, strict=True)]
    )
    weights = np.concatenate([np.ravel(W) for W, _ in params])
    norm = float(weights @ weights)
    if norm == 0 or not np.all(np.isfinite(diff_W)):
        return None
    lam = float(diff_W @ weights) / norm
    if lam == 0 or not close(diff_W, lam * weights) or not close(lam * weights, diff_W):
        return None
    for (c, r), (_, b) in zip(zip(candidate, reference, strict=True), params, strict=True):
        gap = c[1] - r[1]
        scale = max(
            float(np.abs(r[1]).max(initial=0.0)), abs(lam) * float(np.abs(b).max(initial=0.0))
        )
        if np.all(np.abs(gap) <= EXPLAINS * scale):
            continue
        if not close(gap, lam * b):
            return None
    return lam


def _activation_slope(name: str, values: np.ndarray) -> np.ndarray:
    """g'(values) for the activation ``name``, by JAX (forward mode), as float64."""
    import jax
    import jax.numpy as jnp

    with computing_in(np.float64, small=True):
        x = jnp.asarray(values, dtype=jnp.float64)
        _, slope = jax.jvp(jax_activation(name), (x,), (jnp.ones_like(x),))
        return np.asarray(slope)


def hidden_layer_story(
    layer: int, db: np.ndarray, ref: AutodiffPass, params: list, spec: Any
) -> str | None:
    """A common mistake at hidden layer ``layer`` that reproduces the candidate's ∂R/∂b."""
    name = spec.activations[layer - 1]
    dA = ref.dA[layer]
    kink = kink_story(layer, db, ref, spec)
    if kink:
        return f"formula 2 at layer {layer}: {kink}"
    if close(db, dA.sum(axis=0)):
        return f"formula 2 at layer {layer}: the factor g'(z^({layer})) is left out"
    if close(db, (_activation_slope(name, ref.A[layer]) * dA).sum(axis=0)):
        return f"formula 2 at layer {layer}: g' is evaluated at a^({layer}) instead of z^({layer})"
    W_next = params[layer][0]
    if W_next.shape[0] == W_next.shape[1]:
        untransposed = ref.dZ[layer + 1] @ W_next  # Σ_k ∂R/∂z_k W_kj instead of W_jk
        if close(db, (ref.g_prime[layer] * untransposed).sum(axis=0)):
            return (
                f"formula 1 at layer {layer}: the sum runs over W^({layer + 1})_kj instead of "
                f"W^({layer + 1})_jk (a missing transpose)"
            )
    return None


def kink_story(layer: int, db: np.ndarray, ref: AutodiffPass, spec: Any) -> str | None:
    """relu'(0) taken as 1 (``z >= 0``) where z^(layer) is exactly 0, if that gives ∂R/∂b."""
    Z = ref.Z[layer]
    zeros = int(np.count_nonzero(Z == 0))
    if spec.activations[layer - 1] != "relu" or not zeros:
        return None
    slope = np.where(Z == 0, 1.0, ref.g_prime[layer])
    if not close(db, (slope * ref.dA[layer]).sum(axis=0)):
        return None
    where = "the entry" if zeros == 1 else f"the {zeros} entries"
    return (
        f"relu'(0) is taken as 1 at {where} where z^({layer}) = 0 exactly; "
        f"relu'(0) = 0 (as jax.nn.relu defines it)"
    )


def kink_story_as_drawn(story: str, also: Any) -> str | None:
    """A relu'(0) story of a shrunk case, checked against the case as drawn: a case shrunk until
    its only wrong entries sit at a relu pre-activation that is exactly 0 cannot tell a wrong
    relu'(0) from a g' left out everywhere. Where the case as drawn tells another story at its
    own highest wrong layer, that one is told; where it tells none, neither is."""
    for other in also:
        other_top = highest_wrong(other)
        if other.kind != "wrong_values" or other_top is None or other_top == other.spec.depth:
            continue
        db = other.candidate[other_top - 1][1]
        drawn = hidden_layer_story(other_top, db, other.reference, other.params, other.spec)
        if drawn is None:
            return None
        if not kink_story(other_top, db, other.reference, other.spec):
            return f"in the case as drawn, {drawn}"
    return story


def output_layer_story(db: np.ndarray, ref: AutodiffPass, spec: Any) -> str | None:
    L = spec.depth
    name = spec.activations[L - 1]
    kink = kink_story(L, db, ref, spec)
    if kink:
        return f"the output activation's g': {kink}"
    if name != "identity" and close(db, ref.dA[L].sum(axis=0)):
        return f"the output activation's g' ({name}) is left out of ∂R/∂z^({L})"
    return None


def _without_bias(result: Any, layer: int) -> bool:
    """Is the candidate exactly the gradient of the network with b^(layer) left out?"""
    ref, params = result.reference, result.params
    if layer > len(params) or not params[layer - 1][1].any():
        return False
    without = [
        (w, np.zeros_like(c) if k == layer else c) for k, (w, c) in enumerate(params, start=1)
    ]
    grads = autodiff_backward(without, ref.A[0], result.Y, result.spec).grads
    return all(
        close(c, g)
        for pair, other in zip(result.candidate, grads, strict=True)
        for c, g in zip(pair, other, strict=True)
        if np.abs(g).max(initial=0.0) > 0 or np.abs(c).max(initial=0.0) > 0
    )


def forward_story(result: Any, also: Any = ()) -> str | None:
    """A bias left out of the forward pass, if that explains the whole candidate exactly, in
    this case and in every other failing case seen."""
    for layer in range(1, len(result.params) + 1):
        if _without_bias(result, layer) and all(
            _without_bias(other, layer) for other in also if other.kind == "wrong_values"
        ):
            return (
                f"the forward pass leaves out b^({layer}): every entry is the gradient of the "
                f"network without it, evaluated there"
            )
    return None
