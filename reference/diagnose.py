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
not to a formula. Where a common mistake explains the candidate's numbers exactly (g' left out, g'
taken at a instead of z, W^(ℓ+1) not transposed, a constant factor such as a missing 1/n, an
extra λ W^(ℓ) of a weight-decay penalty, a bias left out of the forward pass), it is named.

A formula is named only where the numbers determine it. "∂R/∂z^(ℓ) is wrong and the formulas
below it are right" is a claim about every layer at and below ℓ: the candidate's gradients
there must be what formulas 1-4 give, at the network's own forward pass, from *some*
∂R/∂z^(ℓ). That is a linear condition, tested by least squares wherever the case is small
enough (and on the case as drawn, which has more equations, as well as on the shrunk one).
Where it fails, the gradient was not computed at this forward pass or several formulas are
wrong, and the diagnosis says that no single formula explains it, with the evidence. A named
factor must explain every failing case seen, so that 1/2 is "a lost factor 2" only for the
square loss and only if no 1/n or 1/n_L fits as well.
The intermediate quantities ∂R/∂a^(ℓ), ∂R/∂z^(ℓ) and g'(z^(ℓ)) come from the ``jax.grad`` pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reference.autodiff import AutodiffPass, autodiff_backward
from reference.network import computing_in, jax_activation
from reference.spec import arrays_of, vector_of

__all__ = ["Diagnosis", "diagnose", "explain_non_finite", "number_pair"]

#: Relative agreement that makes a named mistake the explanation of a candidate's values.
_EXPLAINS = 1e-6


@dataclass
class Diagnosis:
    """Where a wrong gradient goes wrong, in lecture terms."""

    wrong: list[tuple[int, str]] = field(default_factory=list)  # (layer, "W" | "b"), 1-based
    layer: int | None = None  # the highest wrong layer: where the mistake enters
    # "1-2", "3", "4", "output", "factor", "penalty", "forward", "precision" or None (no
    # single formula explains the numbers)
    formula: str | None = None
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


def _constant_factor(candidate: list, reference: list) -> float | None:
    """c if the whole candidate gradient is c times the reference (c != 1), else None."""
    cand, ref = vector_of(candidate), vector_of(reference)
    norm = float(ref @ ref)
    if norm == 0 or not np.all(np.isfinite(cand)):
        return None
    factor = float(cand @ ref) / norm
    if abs(factor - 1) <= _EXPLAINS or not _close(cand, factor * ref):
        return None
    return factor


def number_pair(value: float, other: float) -> tuple[str, str]:
    """Both numbers with the fewest significant digits (at least 6) that tell them apart."""
    value, other = float(value), float(other)
    for digits in range(6, 18):
        first, second = f"{value:.{digits}g}", f"{other:.{digits}g}"
        if first != second or value == other:
            return first, second
    return repr(value), repr(other)


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


def _factor_story(factor: float, evidence: list[tuple[float | None, tuple]]) -> str | None:
    """What a constant factor means: the common mistakes that explain it in every failing case
    seen (``evidence``: each case's factor, None if not constant there, and its sizes); None
    if no common mistake does."""

    def fits(value: float, expected: float) -> bool:
        return abs(value - expected) <= _EXPLAINS * max(1.0, abs(expected))

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


def _unnamed_factor(evidence: list[tuple[float | None, tuple]]) -> str:
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


def _penalty(candidate: list, reference: list, params: list) -> float | None:
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
    if lam == 0 or not _close(diff_W, lam * weights) or not _close(lam * weights, diff_W):
        return None
    for (c, r), (_, b) in zip(zip(candidate, reference, strict=True), params, strict=True):
        gap = c[1] - r[1]
        scale = max(
            float(np.abs(r[1]).max(initial=0.0)), abs(lam) * float(np.abs(b).max(initial=0.0))
        )
        if np.all(np.abs(gap) <= _EXPLAINS * scale):
            continue
        if not _close(gap, lam * b):
            return None
    return lam


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
    kink = _kink_story(layer, db, ref, spec)
    if kink:
        return f"formula 2 at layer {layer}: {kink}"
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


def _kink_story(layer: int, db: np.ndarray, ref: AutodiffPass, spec: Any) -> str | None:
    """relu'(0) taken as 1 (``z >= 0``) where z^(layer) is exactly 0, if that gives ∂R/∂b."""
    Z = ref.Z[layer]
    zeros = int(np.count_nonzero(Z == 0))
    if spec.activations[layer - 1] != "relu" or not zeros:
        return None
    slope = np.where(Z == 0, 1.0, ref.g_prime[layer])
    if not _close(db, (slope * ref.dA[layer]).sum(axis=0)):
        return None
    where = "the entry" if zeros == 1 else f"the {zeros} entries"
    return (
        f"relu'(0) is taken as 1 at {where} where z^({layer}) = 0 exactly; "
        f"relu'(0) = 0 (as jax.nn.relu defines it)"
    )


def _output_layer_story(db: np.ndarray, ref: AutodiffPass, spec: Any) -> str | None:
    L = spec.depth
    name = spec.activations[L - 1]
    kink = _kink_story(L, db, ref, spec)
    if kink:
        return f"the output activation's g': {kink}"
    if name != "identity" and _close(db, ref.dA[L].sum(axis=0)):
        return f"the output activation's g' ({name}) is left out of ∂R/∂z^({L})"
    return None


#: The most unknowns x equations a least-squares consistency test takes on.
_LSTSQ_UP_TO = 4_000_000


def _consistent_below(layer: int, result: Any, lowest: int = 1) -> bool | None:
    """Are the candidate's gradients of layers ``lowest`` ... ``layer`` what formulas 1-4 give,
    at this forward pass, from some ∂R/∂z^(layer)? None where the test cannot fail (no more
    equations than unknowns) or is too large to run."""
    ref, params, candidate = result.reference, result.params, result.candidate
    n, units = ref.A[0].shape[0], ref.A[layer].shape[1]
    m = n * units
    equations = sum((W.shape[0] + 1) * W.shape[1] for W, _ in params[lowest - 1 : layer])
    if m >= equations or m * equations > _LSTSQ_UP_TO:
        return None
    delta = np.eye(m).reshape(m, n, units)  # every basis vector of ∂R/∂z^(layer), (m, n, n_l)
    columns = []
    for current in range(layer, lowest - 1, -1):
        dW = np.einsum("ni,mnj->mij", ref.A[current - 1], delta)  # formula 3
        columns.append(np.concatenate([dW.reshape(m, -1), delta.sum(axis=1)], axis=1))  # 4
        if current > lowest:  # formulas 1-2
            delta = (delta @ params[current - 1][0].T) * ref.g_prime[current - 1]
    basis = np.concatenate(columns[::-1], axis=1)  # (m, equations), layers lowest ... layer
    kept = slice(lowest - 1, layer)
    target = np.concatenate([np.append(np.ravel(dW), db) for dW, db in candidate[kept]])
    true = np.concatenate([np.append(np.ravel(dW), db) for dW, db in ref.grads[kept]])
    if not np.all(np.isfinite(basis)) or not np.all(np.isfinite(target)):
        return None
    coefficients, *_ = np.linalg.lstsq(basis.T, target, rcond=None)
    residual = float(np.linalg.norm(basis.T @ coefficients - target))
    return residual <= _EXPLAINS * max(float(np.linalg.norm(target)), float(np.linalg.norm(true)))


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
        _close(c, g)
        for pair, other in zip(result.candidate, grads, strict=True)
        for c, g in zip(pair, other, strict=True)
        if np.abs(g).max(initial=0.0) > 0 or np.abs(c).max(initial=0.0) > 0
    )


def _forward_story(result: Any, also: Any = ()) -> str | None:
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


def _passes_standard(result: Any) -> bool:
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


def _sizes(result: Any) -> tuple[int, int, int, str]:
    spec = result.spec
    return (result.reference.A[0].shape[0], spec.widths[0], spec.widths[-1], spec.loss)


def _highest_wrong(result: Any) -> int | None:
    """The highest layer a finite, wrong candidate gets wrong against either witness."""
    if result.candidate is None or result.kind != "wrong_values":
        return None
    layers = [
        p.layer
        for comparison in (result.vs_autodiff, result.vs_fd)
        if comparison is not None
        for p in comparison.mismatches
    ]
    return max(layers, default=None)


def _unreached(diagnosis: Diagnosis, top: int) -> Diagnosis:
    diagnosis.formula = None
    diagnosis.summary = (
        f"no single formula is determined: layer {top} is wrong in W and b while every layer "
        f"below it is right on the case as drawn"
    )
    diagnosis.details = [
        f"a wrong ∂R/∂z^({top}) (formulas 1-2) would reach layers {top - 1} and below through "
        f"W^({top}) and g'(z^({top - 1})) unless its error vanished there; more likely "
        f"∂R/∂W^({top}) and ∂R/∂b^({top}) themselves (formulas 3-4) are computed from something "
        f"else, or not kept"
    ]
    return diagnosis


def _right_below(top: int, result: Any) -> bool:
    """Are the candidate's gradients of every layer below ``top`` right against ``jax.grad``,
    with some of them nonzero (so that they show what ∂R/∂z^(top) reached them)?"""
    if top <= 1 or result.vs_autodiff is None:
        return False
    below = [p for p in result.vs_autodiff.params if p.layer < top]
    grads = arrays_of(result.reference.grads[: top - 1])
    return all(p.ok for p in below) and any(np.any(g) for g in grads)


def _undetermined(
    diagnosis: Diagnosis, top: int, where: str, right_below: bool = False
) -> Diagnosis:
    diagnosis.formula = None
    diagnosis.summary = (
        f"no single formula explains the numbers: layer {top} is the highest wrong layer, but "
        f"the gradients of layers {top} and below are not what formulas 1-4 give at this "
        f"network's forward pass from any ∂R/∂z^({top}) (least squares on {where})"
    )
    if right_below:
        diagnosis.details.insert(
            0,
            f"layers {top - 1} and below are right on {where}, so the ∂R/∂z^({top}) that "
            f"formulas 1-2 carried down was right: ∂R/∂W^({top}) and ∂R/∂b^({top}) are not "
            f"formulas 3-4 applied to it (computed from something else, or not kept)",
        )
        return diagnosis
    diagnosis.details.insert(
        0,
        "the gradient was computed at another forward pass (a bias or an activation left out "
        "or changed), or more than one formula is wrong",
    )
    return diagnosis


def diagnose(
    result: Any,
    wrong: list[tuple[int, str]],
    *,
    quick: bool = False,
    also: Any = (),
) -> Diagnosis:
    """Name the broken formula from the wrong (layer, param) pairs of a finite candidate.

    ``result`` is the three-way verdict (``reference.verify.ThreeWay``) on the case, with the
    candidate's gradient as float64 pairs; ``wrong`` the pairs it gets wrong (against either
    witness). ``quick`` skips the tests that need more than the numbers at hand (the
    least-squares consistency and the forward-pass stories), for shrinking. ``also`` holds
    verdicts on other failing cases of the same implementation (the case as drawn, before
    shrinking): a named cause must explain their numbers too.
    """
    candidate, ref, params, Y, spec = (
        result.candidate,
        result.reference,
        result.params,
        result.Y,
        result.spec,
    )
    wrong = sorted(set(wrong))
    if not wrong:
        return Diagnosis()
    # ∂R/∂W^(l) = a^(l-1) ⊗ ∂R/∂z^(l) is zero whatever ∂R/∂z^(l) is where a^(l-1) = 0: "W right"
    # then says nothing, and a wrong ∂R/∂b^(l) means a wrong ∂R/∂z^(l), as when both are wrong.
    blind = {layer for layer in range(1, spec.depth + 1) if not np.any(ref.A[layer - 1])}
    L, n = spec.depth, ref.A[0].shape[0]
    top = max(layer for layer, _ in wrong)
    at_top = {param for layer, param in wrong if layer == top}
    wrong_at_top = "W and b"
    if top in blind:
        if "W" not in at_top:
            wrong_at_top = "b (its W sees only zero inputs, so its ∂R/∂W is 0 either way)"
        at_top.add("W")
    below = sorted({layer for layer, _ in wrong if layer < top})
    diagnosis = Diagnosis(wrong=wrong, layer=top)
    if below:
        diagnosis.details.append(
            f"layers {', '.join(map(str, below))} below it inherit the error through formulas 1-2"
            if len(below) > 1
            else f"layer {below[0]} below it inherits the error through formulas 1-2"
        )
    if result.precision == "strict" and _passes_standard(result):
        diagnosis.formula = "precision"
        diagnosis.summary = (
            "every error is within what activation values accurate to a few units of roundoff "
            "of the activation's own scale make (the default standard); the strict standard "
            "asks each activation value to be accurate relatively: no formula is wrong"
        )
        diagnosis.details = []
        return diagnosis
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
    db = candidate[top - 1][1]
    factor = _constant_factor(candidate, ref.grads)
    if factor is not None and {param for _, param in wrong} == {"W", "b"}:
        evidence = [(factor, _sizes(result))] + [
            (_constant_factor(other.candidate, other.reference.grads), _sizes(other))
            for other in also
            if other.candidate is not None
        ]
        meaning = _factor_story(factor, evidence)
        uniform = all(f is not None for f, _ in evidence)
        # one output unit and its g' left out also scale everything by one number, 1/g'
        if uniform and (
            meaning is not None or not (top == L and _output_layer_story(db, ref, spec))
        ):
            factor_text, _ = number_pair(factor, 1.0)
            diagnosis.formula = "factor"
            diagnosis.summary = (
                f"every entry is {factor_text} times the right value: "
                f"{meaning or _unnamed_factor(evidence)}"
            )
            diagnosis.details = []
            return diagnosis
    lam = _penalty(candidate, ref.grads, params)
    if lam is not None:
        diagnosis.formula = "penalty"
        diagnosis.summary = (
            f"every ∂R/∂W^(ℓ) has an extra {number_pair(lam, 0.0)[0]} W^(ℓ): a weight-decay (L2) "
            f"penalty that R does not have; formulas 1-4 are right"
        )
        diagnosis.details = []
        return diagnosis
    if not quick:
        story = _forward_story(result, also)
        if story is not None:
            diagnosis.formula = "forward"
            diagnosis.summary = f"{story}; the backward pass is right for that forward pass"
            diagnosis.details = []
            return diagnosis
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
    if not quick:
        here = _consistent_below(top, result)
        if here is False:
            return _undetermined(diagnosis, top, "this case", _right_below(top, result))
        # the case as drawn, at its own highest wrong layer: shrinking may have zeroed the
        # weights through which a wrong ∂R/∂z^(top) would show in the layers below
        # (at a hidden layer, only where every layer below it is right there: a mistake
        # that repeats in every layer, such as g' left out, is still named)
        for other in also:
            other_top = _highest_wrong(other)
            if other_top is None or (top == L and other_top != other.spec.depth):
                continue
            right = other_top < other.spec.depth and _right_below(other_top, other)
            if top < L and not right:
                continue
            consistent = _consistent_below(other_top, other)
            if consistent is None and other_top > 1:  # too large: the two layers at the top
                consistent = _consistent_below(other_top, other, lowest=other_top - 1)
            if consistent is False:
                return _undetermined(diagnosis, top, "the case as drawn", right)
            if consistent is None and right and not below:
                # too many unknowns for least squares to decide; the layers below still show
                # that no wrong ∂R/∂z^(top) reached them
                return _unreached(diagnosis, top)
    if top == L:
        diagnosis.formula = "output"
        story = _output_layer_story(db, ref, spec)
        diagnosis.summary = (
            f"output layer {L} wrong in {wrong_at_top}: ∂R/∂z^({L}) is wrong at the start of the "
            f"backward pass: the loss derivative ∂ℓ/∂H, the 1/n, or the output activation's g'"
        )
        if story:
            diagnosis.details.insert(0, story)
        return diagnosis
    diagnosis.formula = "1-2"
    diagnosis.summary = (
        f"layer {top + 1} right, layer {top} wrong in {wrong_at_top}: formulas 1-2 at layer {top}, "
        f"the W^({top + 1}) sum or g'(z^({top}))"
    )
    story = _hidden_layer_story(top, db, ref, params, spec)
    if story and _kink_story(top, db, ref, spec):
        story = _kink_story_as_drawn(story, also)
    if story:
        diagnosis.details.insert(0, story)
    return diagnosis


def _kink_story_as_drawn(story: str, also: Any) -> str | None:
    """A relu'(0) story of a shrunk case, checked against the case as drawn: a case shrunk until
    its only wrong entries sit at a relu pre-activation that is exactly 0 cannot tell a wrong
    relu'(0) from a g' left out everywhere. Where the case as drawn tells another story at its
    own highest wrong layer, that one is told; where it tells none, neither is."""
    for other in also:
        other_top = _highest_wrong(other)
        if other.kind != "wrong_values" or other_top is None or other_top == other.spec.depth:
            continue
        db = other.candidate[other_top - 1][1]
        drawn = _hidden_layer_story(other_top, db, other.reference, other.params, other.spec)
        if drawn is None:
            return None
        if not _kink_story(other_top, db, other.reference, other.spec):
            return f"in the case as drawn, {drawn}"
    return story


def explain_non_finite(result: Any, moderate: Any = None) -> Diagnosis:
    """Where NaN or infinity can come from in this case, and (given ``moderate``, the verdict on
    the same network with moderate values) whether the formulas themselves are right."""
    ref, spec = result.reference, result.spec
    dtype = np.dtype(ref.A[0].dtype)
    limit = float(np.log(np.finfo(dtype).max))  # e^x overflows beyond it: 709.78 in float64
    sources = []
    for layer in range(1, spec.depth + 1):
        name = spec.activations[layer - 1]
        reach = float(np.abs(ref.Z[layer]).max(initial=0.0))
        if name in ("sigmoid", "tanh", "softplus") and reach > limit / 2:
            sources.append(f"z^({layer}) reaches ±{reach:.4g} in a {name} layer")
    reach = float(np.abs(ref.A[spec.depth]).max(initial=0.0))
    if spec.loss in ("logistic", "softmax_cross_entropy") and reach > limit / 2:
        sources.append(f"H reaches ±{reach:.4g} in the {spec.loss} loss")
    wrong = sorted({(e.layer, e.param) for e in result.non_finite})
    diagnosis = Diagnosis(wrong=wrong, layer=max(layer for layer, _ in wrong))
    count = len(result.non_finite)
    diagnosis.summary = (
        f"{count} entr{'y is' if count == 1 else 'ies are'} NaN or infinite where the gradient "
        f"is finite"
    )
    if sources:
        diagnosis.details.append(
            f"overflow: {'; '.join(sources)}, where e^|x| overflows {dtype} (|x| > {limit:.1f}) "
            f"or its square does (|x| > {limit / 2:.1f}): the exp of a large argument in an "
            f"activation or the loss; compute it in a form that cannot overflow (e^-|x|, "
            f"logaddexp, a softmax shifted by its maximum)"
        )
    else:
        diagnosis.details.append(
            f"no activation or loss argument here is large enough for an exp to overflow "
            f"(|x| <= {limit / 2:.1f}): the NaN or infinity comes from the implementation's "
            f"own arithmetic (a division by 0, the log of 0, 0 times infinity)"
        )
    if moderate is not None:
        if moderate.ok:
            diagnosis.details.append(
                "on the same network with moderate values (weights and inputs scaled down "
                "until no |z| exceeds 30) the implementation agrees with both witnesses: the "
                "formulas are right, only their evaluation overflows"
            )
        else:
            diagnosis.details.append(
                f"on the same network with moderate values it fails too ({moderate.kind}): "
                f"the formulas themselves are wrong as well"
            )
    return diagnosis
