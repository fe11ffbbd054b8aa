r"""Which of the lecture's four formulas a wrong gradient breaks.

Backpropagation computes layer L first and carries ∂R/∂z^(ℓ) down through formulas 1-2, so a
mistake shows at the layer where it is made and in every layer below that inherits it. The
diagnosis therefore starts from the highest wrong layer ℓ (the one nearest the output):

- only ∂R/∂W^(ℓ) wrong there: ∂R/∂z^(ℓ) itself is right (∂R/∂b^(ℓ) is its batch sum), so the
  mistake is formula 3, the a^(ℓ-1) factor;
- only ∂R/∂b^(ℓ) wrong: formula 4 (∂R/∂b^(ℓ) = ∂R/∂z^(ℓ), summed over the batch);
- both wrong, ℓ = L: ∂R/∂z^(L) is wrong, the start of the backward pass: the loss derivative, the
  1/n, or the output activation's g';
- both wrong, ℓ < L, with layer ℓ+1 right: formulas 1-2 at layer ℓ, the W^(ℓ+1) sum or g'(z^(ℓ)).

Errors all of the size that the same pass computed in float32 makes point to lost precision,
not to a formula. Where a common mistake explains the candidate's ∂R/∂b^(ℓ) exactly (g' left out, g'
taken at a instead of z, W^(ℓ+1) not transposed, a constant factor such as a missing 1/n), it is
named.
The intermediate quantities ∂R/∂a^(ℓ), ∂R/∂z^(ℓ) and g'(z^(ℓ)) come from the ``jax.grad`` pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reference.autodiff import AutodiffPass, autodiff_backward, computing_in
from reference.network import jax_activation

__all__ = ["Diagnosis", "diagnose"]

#: Relative agreement that makes a named mistake the explanation of a candidate's values.
_EXPLAINS = 1e-6


@dataclass
class Diagnosis:
    """Where a wrong gradient goes wrong, in lecture terms."""

    wrong: list[tuple[int, str]] = field(default_factory=list)  # (layer, "W" | "b"), 1-based
    layer: int | None = None  # the highest wrong layer: where the mistake enters
    formula: str | None = None  # "1-2", "3", "4", "output", "factor" or "precision"
    summary: str = ""  # one sentence
    details: list[str] = field(default_factory=list)  # further sentences, if any

    def lines(self) -> list[str]:
        return [self.summary, *self.details] if self.summary else []

    def as_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "formula": self.formula,
            "summary": self.summary,
            "details": list(self.details),
            "wrong": [{"layer": layer, "param": param} for layer, param in self.wrong],
        }


def _close(candidate: np.ndarray, other: np.ndarray) -> bool:
    scale = max(float(np.abs(other).max(initial=0.0)), float(np.abs(candidate).max(initial=0.0)))
    return bool(np.all(np.abs(candidate - other) <= _EXPLAINS * scale)) and scale > 0


def _rounding_sized(
    candidate: list, ref: AutodiffPass, params: list, Y: np.ndarray, spec: Any, wrong: list
) -> bool:
    """Could computing in float32 have made every error?

    The measure is the ``jax.grad`` pass itself, run in float32 on the inputs rounded to
    float32: every wrong entry must be within 16 times that pass's own error (plus float32's
    relative precision of the value), so a float32 computation explains it. A flipped sign or a
    wrong factor is far outside this wherever the value is not rounding noise; where it is
    noise, the candidate's values must also be float32 numbers, or off by under 0.1%.
    """
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


def _constant_factor(candidate: list, reference: list) -> float | None:
    """c if the whole candidate gradient is c times the reference (c != 1), else None."""
    cand = np.concatenate([np.ravel(a) for pair in candidate for a in pair])
    ref = np.concatenate([np.ravel(a) for pair in reference for a in pair])
    norm = float(ref @ ref)
    if norm == 0 or not np.all(np.isfinite(cand)):
        return None
    factor = float(cand @ ref) / norm
    if abs(factor - 1) <= _EXPLAINS or not _close(cand, factor * ref):
        return None
    return factor


def _name_factor(factor: float, n: int) -> str:
    meanings = [
        (-1.0, "the sign of the loss derivative is flipped (a gradient ascent step)"),
        (0.5, "the loss derivative lost a factor 2 (for the square loss, 2 (H - y))"),
        (2.0, "the loss derivative gained a factor 2"),
    ]
    if n > 1:
        meanings[:0] = [
            (float(n), "the 1/n of the empirical risk is missing"),
            (1 / n, "the 1/n of the empirical risk is applied twice"),
        ]
    for value, meaning in meanings:
        if abs(factor - value) <= _EXPLAINS * max(1.0, abs(value)):
            return meaning
    return "the loss derivative or the 1/n is scaled wrongly"


def _activation_slope(name: str, values: np.ndarray) -> np.ndarray:
    """g'(values) for the activation ``name``, by JAX (forward mode), as float64."""
    import jax
    import jax.numpy as jnp

    with computing_in(np.float64):
        x = jnp.asarray(values, dtype=jnp.float64)
        _, slope = jax.jvp(jax_activation(name), (x,), (jnp.ones_like(x),))
        return np.asarray(slope)


def _hidden_layer_story(
    layer: int, db: np.ndarray, ref: AutodiffPass, params: list, spec: Any
) -> str | None:
    """A common mistake at hidden layer ``layer`` that reproduces the candidate's ∂R/∂b."""
    name = spec.activations[layer - 1]
    dA = ref.dA[layer]
    if _close(db, dA.sum(axis=0)):
        return f"formula 2 at layer {layer}: the factor g'(z^({layer})) is left out"
    if _close(db, (_activation_slope(name, ref.A[layer]) * dA).sum(axis=0)):
        return f"formula 2 at layer {layer}: g' is evaluated at a^({layer}) instead of z^({layer})"
    W_next = params[layer][0]
    if W_next.shape[0] == W_next.shape[1]:
        untransposed = ref.dZ[layer + 1] @ W_next  # Σ_k ∂R/∂z_k W_kj instead of W_jk
        if _close(db, (ref.g_prime[layer] * untransposed).sum(axis=0)):
            return (
                f"formula 1 at layer {layer}: the sum runs over W^({layer + 1})_kj instead of "
                f"W^({layer + 1})_jk (a missing transpose)"
            )
    return None


def _output_layer_story(db: np.ndarray, ref: AutodiffPass, spec: Any) -> str | None:
    L = spec.depth
    name = spec.activations[L - 1]
    if name != "identity" and _close(db, ref.dA[L].sum(axis=0)):
        return f"the output activation's g' ({name}) is left out of ∂R/∂z^({L})"
    return None


def diagnose(
    candidate: list,
    wrong: list[tuple[int, str]],
    ref: AutodiffPass,
    params: list,
    Y: np.ndarray,
    spec: Any,
) -> Diagnosis:
    """Name the broken formula from the wrong (layer, param) pairs of a finite candidate.

    ``candidate`` is the implementation's gradient as float64 pairs, ``wrong`` the pairs it gets
    wrong (against either witness), ``ref`` the ``jax.grad`` pass on the same case (``params``,
    ``Y``, ``spec``).
    """
    wrong = sorted(set(wrong))
    if not wrong:
        return Diagnosis()
    # ∂R/∂W^(l) = a^(l-1) ⊗ ∂R/∂z^(l) is zero whatever ∂R/∂z^(l) is where a^(l-1) = 0: "W right"
    # then says nothing, and a wrong ∂R/∂b^(l) means a wrong ∂R/∂z^(l), as when both are wrong.
    blind = {layer for layer in range(1, spec.depth + 1) if not np.any(ref.A[layer - 1])}
    L, n = spec.depth, ref.A[0].shape[0]
    top = max(layer for layer, _ in wrong)
    at_top = {param for layer, param in wrong if layer == top}
    if top in blind:
        at_top.add("W")
    below = sorted({layer for layer, _ in wrong if layer < top})
    diagnosis = Diagnosis(wrong=wrong, layer=top)
    if below:
        diagnosis.details.append(
            f"layers {', '.join(map(str, below))} below it inherit the error through formulas 1-2"
            if len(below) > 1
            else f"layer {below[0]} below it inherits the error through formulas 1-2"
        )
    if np.dtype(ref.A[0].dtype) != np.float32 and _rounding_sized(
        candidate, ref, params, Y, spec, wrong
    ):
        diagnosis.formula = "precision"
        diagnosis.summary = (
            "every error is of the size a float32 computation of this case makes: precision is "
            "lost (float32 somewhere inside), no formula is wrong"
        )
        diagnosis.details = []
        return diagnosis
    factor = _constant_factor(candidate, ref.grads)
    if factor is not None and {param for _, param in wrong} == {"W", "b"}:
        diagnosis.formula = "factor"
        diagnosis.summary = (
            f"every entry is {factor:.6g} times the right value: {_name_factor(factor, n)}"
        )
        diagnosis.details = []
        return diagnosis
    db = candidate[top - 1][1]
    if at_top == {"W"}:
        diagnosis.formula = "3"
        diagnosis.summary = (
            f"layer {top}: ∂R/∂b right, ∂R/∂W wrong: formula 3, the a^({top - 1}) factor of "
            f"∂R/∂W^({top})_ij = ∂R/∂z_j^({top}) a_i^({top - 1})"
        )
        dW, true_dW = candidate[top - 1][0], ref.grads[top - 1][0]
        if dW.shape[0] == dW.shape[1] and _close(dW, true_dW.T):
            diagnosis.details.insert(0, f"∂R/∂W^({top}) is the transpose of the right one")
        return diagnosis
    if at_top == {"b"}:
        diagnosis.formula = "4"
        diagnosis.summary = (
            f"layer {top}: ∂R/∂W right, ∂R/∂b wrong: formula 4, ∂R/∂b^({top}) = ∂R/∂z^({top}) "
            f"summed over the batch"
        )
        if _close(db, ref.grads[top - 1][1] / n):
            diagnosis.details.insert(0, "it is averaged over the batch instead of summed")
        return diagnosis
    if top == L:
        diagnosis.formula = "output"
        story = _output_layer_story(db, ref, spec)
        diagnosis.summary = (
            f"output layer {L} wrong in W and b: ∂R/∂z^({L}) is wrong at the start of the "
            f"backward pass: the loss derivative ∂ℓ/∂H, the 1/n, or the output activation's g'"
        )
        if story:
            diagnosis.details.insert(0, story)
        return diagnosis
    diagnosis.formula = "1-2"
    diagnosis.summary = (
        f"layer {top + 1} right, layer {top} wrong in W and b: formulas 1-2 at layer {top}, the "
        f"W^({top + 1}) sum or g'(z^({top}))"
    )
    story = _hidden_layer_story(top, db, ref, params, spec)
    if story:
        diagnosis.details.insert(0, story)
    return diagnosis
