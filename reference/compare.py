r"""Verdicts: does a candidate gradient agree with a witness, per layer and parameter?

Against ``jax.grad`` the tolerance of every entry is a floating-point error bound of the backward
pass, not a fixed relative threshold. It is a first-order running bound in the style of Higham's
*Accuracy and Stability of Numerical Algorithms* (ch. 3): a sum of k products computed in any
order is within γ_k = k u / (1 - k u) of the exact sum, relative to the sum of the products'
magnitudes. Propagating magnitudes through the same four formulas gives, per entry:

- forward:  e(z^(l)) = γ_{n_{l-1}+1} (|a^(l-1)| |W^(l)| + |b^(l)|) + e(a^(l-1)) |W^(l)|,
            e(a^(l)) = |g'(z)| e(z) + 4 u |a^(l)| + 4 u s_g (see "The numerical standard");
- output:   e(∂R/∂H) from the loss's Lipschitz constant times e(H), plus rounding of its terms;
- formula 1: e(∂R/∂a^(l)) = γ_{n_{l+1}} |δ^(l+1)| |W^(l+1)|ᵀ + e(δ^(l+1)) |W^(l+1)|ᵀ;
- formula 2: e(δ^(l)) = e(∂R/∂a) |g'| + |∂R/∂a| e(g') + u |δ|, with e(g') = max|g''| e(z) plus
            the absolute rounding of g' (4u: every g' here is at most 1, and a saturated unit's
            g' ≈ 0 is computed to within a few u absolutely, not relatively);
- formulas 3, 4: e(∂R/∂W) = γ_n |a|ᵀ|δ| + e(a)ᵀ|δ| + |a|ᵀ e(δ), e(∂R/∂b) = γ_n Σ|δ| + Σ e(δ).

Underflow: besides its relative error u, every operation may err absolutely by the smallest normal
number t (XLA flushes subnormals to zero on CPU; NumPy rounds them gradually), and a subnormal
input may be read as 0. So each sum of k terms adds k t, each elementwise operation t, and a
subnormal input x adds |x| to that input's error.

A relu or leaky_relu unit with |z| <= e(z) may fall on either side of its kink in another correct
computation; its e(g') is then the jump of g' (1 or 0.99). Both the candidate and the reference
carry such an error, so the tolerance is twice the bound. Except where z is exactly 0 in every
computation: each of its terms has a factor that is exactly 0 (an input entry, a weight, or an
earlier unit that is exactly 0: identity, relu, leaky_relu or tanh of such a z, or a relu of a z
certainly below 0) and b = 0. There g'(0) is the contract's, with no other side.
Cancellation cannot cause a false alarm, because magnitudes, not values, are propagated; and a
bound of a few u |terms| is far below what a wrong formula, a missing factor, or float32
arithmetic inside a float64 computation produces.

The numerical standard. A correct implementation may compute an activation by any textbook
formula: sigmoid as (1 + tanh(z/2)) / 2, tanh as (1 - e^{-2z}) / (1 + e^{-2z}), softplus as
log(1 + e^z) guarded against overflow. Such formulas are accurate to a few units of roundoff of
the activation's own scale s_g, not of each value: σ(-40) = 4e-18 may come out as 0 or 1e-17.
By default (``precision="standard"``) every activation value and derivative is allowed 4 u s_g
absolutely, on top of the 4 u |a| and the 4 u of g' above: s_g = 1 for sigmoid, tanh and
softplus (whose unbounded part, z for large z, is accurate relatively anyway) and 0 for the
piecewise-linear ones, exact wherever they are computed. ``precision="strict"`` drops that
term and asks every activation value to be accurate relatively (4 u |a|), for library authors
who promise that.

Against finite differences the tolerance is the finite-difference error estimate plus the
candidate's own bound; at kinks the candidate must lie in the one-sided interval, and where the
finite differences abstain (two or more kinks inside the stencil) they judge nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reference.autodiff import AutodiffPass
from reference.fd import FiniteDifferences
from reference.spec import KINKED_ACTIVATIONS, Spec, lecture_name

lecture_index = lecture_name  # the name this module has always offered

__all__ = [
    "PRECISIONS",
    "Comparison",
    "ParamComparison",
    "as_float_pairs",
    "backprop_error_bound",
    "compare_to_autodiff",
    "compare_to_fd",
    "lecture_index",
]

#: Largest |g''| of each activation (0 where g is piecewise linear): sigmoid'' peaks at
#: 1/(6 sqrt 3) ≈ 0.0962, tanh'' at 4/(3 sqrt 3) ≈ 0.770, softplus'' = sigmoid' at 1/4.
_SECOND_DERIVATIVE_BOUND = {
    "identity": 0.0,
    "relu": 0.0,
    "leaky_relu": 0.0,
    "sigmoid": 0.0963,
    "tanh": 0.770,
    "softplus": 0.25,
}
#: Absolute rounding error of computing g' (in units of u): exact for piecewise-linear g.
_DERIVATIVE_ROUNDING = {
    "identity": 0.0,
    "relu": 0.0,
    "leaky_relu": 0.0,
    "sigmoid": 4.0,
    "tanh": 4.0,
    "softplus": 4.0,
}
_KINK_JUMP = {"relu": 1.0, "leaky_relu": 0.99}
#: Activations with g(0) = 0 exactly, in any computation.
_ZERO_AT_ZERO = frozenset({"identity", "relu", "leaky_relu", "tanh"})
#: The scale s_g to which the standard asks activation values to be accurate (in units of u,
#: absolutely): bounded activations (and softplus's bounded part) to their own scale, 1.
_VALUE_SCALE = {
    "identity": 0.0,
    "relu": 0.0,
    "leaky_relu": 0.0,
    "sigmoid": 1.0,
    "tanh": 1.0,
    "softplus": 1.0,
}
#: The numerical standards: activation values accurate to their scale, or relatively.
PRECISIONS = ("standard", "strict")


def _gamma(k: int, u: float) -> float:
    return k * u / (1 - k * u)


def _flushed(magnitude: np.ndarray, t: float) -> np.ndarray:
    """The error of reading each value as 0 if it is subnormal (flush-to-zero)."""
    return np.where(magnitude < t, magnitude, 0.0)


def _loss_derivative_error(
    loss: str, H: np.ndarray, Y: np.ndarray, D: np.ndarray, eH: np.ndarray, u: float, t: float
) -> np.ndarray:
    """Error bound of ∂R/∂H = ℓ'(H, Y) / n, shape (n, n_L); D is its reference value.

    Every ℓ' here is at most 2-Lipschitz in y, hence the 2 |y| for a flushed subnormal y.
    """
    n = H.shape[0]
    magnitude = np.abs(D) * n + np.abs(Y) + np.abs(H)  # the terms ℓ' is formed from
    if loss == "output":
        lipschitz = np.zeros_like(eH)
    elif loss == "square":
        lipschitz = 2 * eH  # ℓ' = 2(H - y)
    elif loss == "logistic":
        lipschitz = 0.25 * eH  # ℓ' = sigmoid(H) - y
    else:  # softmax_cross_entropy: ℓ' = softmax(H) Σy - y; softmax is 1-Lipschitz in max norm
        lipschitz = 2 * np.abs(Y).sum(axis=1, keepdims=True) * eH.max(axis=1, keepdims=True)
    flushed_y = 2 * _flushed(np.abs(Y), t)
    return (lipschitz + 8 * u * magnitude + flushed_y + 4 * t) / n + u * np.abs(D) + t


def backprop_error_bound(
    ref: AutodiffPass,
    params: list,
    Y: np.ndarray,
    spec: Spec,
    dtype: Any,
    *,
    precision: str = "standard",
) -> list[tuple[np.ndarray, np.ndarray]]:
    """A bound on the rounding error of a backward pass computed in ``dtype``, per entry.

    ``ref`` supplies the magnitudes (from the ``jax.grad`` pass at the same point); the result is
    shaped like ``params``. ``precision`` picks the numerical standard (``PRECISIONS``). See the
    module docstring for the recurrences.
    """
    scale = _VALUE_SCALE if precision == "standard" else dict.fromkeys(_VALUE_SCALE, 0.0)
    u = float(np.finfo(dtype).eps)
    t = float(np.finfo(dtype).tiny)
    L = spec.depth
    abs_W = [None] + [np.abs(np.asarray(W, dtype=np.float64)) for W, _ in params]
    abs_b = [None] + [np.abs(np.asarray(b, dtype=np.float64)) for _, b in params]
    names = (None, *spec.activations)
    n = ref.A[0].shape[0]

    eA = [_flushed(np.abs(ref.A[0]), t)]
    exact_zero = ref.A[0] == 0  # a^(l) entries that are exactly 0 in every computation
    eZ: list = [None]
    abs_g: list = [None]
    e_g: list = [None]
    for layer in range(1, L + 1):
        magnitude_A = np.abs(ref.A[layer - 1]) + eA[layer - 1]
        k = spec.widths[layer - 1] + 1
        ez = _gamma(k, u) * (magnitude_A @ abs_W[layer] + abs_b[layer]) + k * t
        ez = ez + eA[layer - 1] @ abs_W[layer]
        ez = ez + magnitude_A @ _flushed(abs_W[layer], t) + _flushed(abs_b[layer], t)
        name = names[layer]
        eg = (
            _SECOND_DERIVATIVE_BOUND[name] * ez + (_DERIVATIVE_ROUNDING[name] + 4 * scale[name]) * u
        )
        # z is exactly 0 in every computation where each of its terms has a zero factor and
        # b = 0: there g'(0) is the contract's value, with no kink to fall on either side of
        live_terms = (~exact_zero).astype(np.float64) @ (abs_W[layer] != 0).astype(np.float64)
        z_exact_zero = (live_terms == 0) & (abs_b[layer] == 0)
        uncertain = np.zeros(ez.shape, dtype=bool)
        if name in KINKED_ACTIVATIONS:
            # either side of the kink is possible
            uncertain = (np.abs(ref.Z[layer]) <= ez) & ~z_exact_zero
            eg = np.where(uncertain, _KINK_JUMP[name], eg)
        exact_zero = z_exact_zero if name in _ZERO_AT_ZERO else np.zeros_like(z_exact_zero)
        if name == "relu":  # a certainly negative z gives exactly 0
            exact_zero = exact_zero | ((ref.Z[layer] < 0) & ~uncertain)
        # the other computation's g' may be as large as ours plus its error: a saturated unit
        # whose g' rounds to 0 here may carry a small nonzero g' there
        g_abs = np.abs(ref.g_prime[layer]) + eg
        eZ.append(ez)
        abs_g.append(g_abs)
        e_g.append(eg)
        eA.append(g_abs * ez + 4 * u * (np.abs(ref.A[layer]) + scale[name]) + t)

    H = ref.A[L]
    e_dA = _loss_derivative_error(spec.loss, H, Y, ref.dA[L], eA[L], u, t)
    bounds: list = [None] * (L + 1)
    e_delta = np.zeros_like(ref.dZ[L])  # replaced at layer L before any use
    for layer in range(L, 0, -1):
        if layer < L:
            magnitude_delta = np.abs(ref.dZ[layer + 1]) + e_delta
            k = spec.widths[layer + 1]
            e_dA = _gamma(k, u) * magnitude_delta @ abs_W[layer + 1].T + k * t
            e_dA = e_dA + e_delta @ abs_W[layer + 1].T
        abs_dA = np.abs(ref.dA[layer])
        e_delta = e_dA * abs_g[layer] + abs_dA * e_g[layer] + u * np.abs(ref.dZ[layer]) + t
        magnitude_delta = np.abs(ref.dZ[layer]) + e_delta
        magnitude_A = np.abs(ref.A[layer - 1])
        eW = _gamma(n + 1, u) * magnitude_A.T @ magnitude_delta + (n + 1) * t
        eW = eW + eA[layer - 1].T @ magnitude_delta + magnitude_A.T @ e_delta
        eb = _gamma(n + 1, u) * magnitude_delta.sum(axis=0) + e_delta.sum(axis=0) + (n + 1) * t
        bounds[layer] = (eW, eb)
    return bounds[1:]


class ParamComparison:
    """How one parameter array (``W`` or ``b`` of a layer) compares with a witness.

    Built from the entrywise arrays; the summary (worst entry, its values, the wrong entries)
    is worked out when first asked for, since most comparisons are only asked ``ok``.
    """

    def __init__(
        self,
        layer: int,
        param: str,
        candidate: np.ndarray,
        witness: np.ndarray,
        bad: np.ndarray,
        measure: Callable[[], tuple[np.ndarray, np.ndarray]],
        kink: np.ndarray | None = None,
        unresolved: np.ndarray | None = None,
    ) -> None:
        """``bad`` flags the wrong entries; ``measure()`` gives each entry's |diff| / tolerance
        and its tolerance; ``kink`` and ``unresolved`` flag the finite differences' kink and
        abstaining entries (against finite differences only)."""
        self.layer = layer  # 1-based, lecture numbering
        self.param = param  # "W" or "b"
        self.bad = bad  # bool, shaped like the parameter: the entries outside tolerance
        self.ok = not bad.any()
        self._arrays = (candidate, witness)
        self._measure = measure
        self._flags = (kink, unresolved)

    @property
    def kink_entries(self) -> int:
        """Entries whose finite-difference stencil crosses a kink."""
        return 0 if self._flags[0] is None else int(self._flags[0].sum())

    @property
    def unresolved_entries(self) -> int:
        """Entries where the finite differences abstain (two or more kinks)."""
        return 0 if self._flags[1] is None else int(self._flags[1].sum())

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._arrays[0].shape)

    def ratios(self) -> np.ndarray:
        """Each entry's |candidate - witness| / tolerance (at kinks, its distance from the
        middle of the one-sided interval over the half width; 0 where nothing is judged)."""
        return self._measure()[0]

    def tolerances(self) -> np.ndarray:
        """Each entry's tolerance (at kinks, the one-sided interval's half width)."""
        return self._measure()[1]

    @functools.cached_property
    def _summary(self) -> dict[str, Any]:
        candidate, witness = self._arrays
        diff = np.abs(candidate - witness)
        if diff.size == 0:
            return {
                "max_abs_error": 0.0,
                "max_rel_error": 0.0,
                "worst_ratio": 0.0,
                "bad_entries": [],
                "worst_entry": None,
                "candidate_value": None,
                "witness_value": None,
                "tolerance": None,
            }
        ratio, tolerance = self._measure()
        ratio = np.where(np.isnan(ratio), np.inf, ratio)
        worst = np.unravel_index(int(np.argmax(ratio)), diff.shape)
        w_value = float(witness[worst])
        worst_diff = float(diff[worst])
        rel = worst_diff / abs(w_value) if w_value != 0 else (0.0 if worst_diff == 0 else np.inf)
        return {
            "max_abs_error": float(np.nanmax(diff)) if not np.isnan(diff).all() else float("nan"),
            "max_rel_error": float(rel),  # |candidate - witness| / |witness| at the worst entry
            "worst_ratio": float(ratio[worst]),  # max over entries of |diff| / tolerance
            "bad_entries": [tuple(int(i) for i in idx) for idx in np.argwhere(self.bad)],  # 0-based
            "worst_entry": tuple(int(i) for i in worst),
            "candidate_value": float(candidate[worst]),
            "witness_value": w_value,
            "tolerance": float(tolerance[worst]),  # at the worst entry
        }

    max_abs_error = property(lambda self: self._summary["max_abs_error"])
    max_rel_error = property(lambda self: self._summary["max_rel_error"])
    worst_ratio = property(lambda self: self._summary["worst_ratio"])
    bad_entries = property(lambda self: self._summary["bad_entries"])
    worst_entry = property(lambda self: self._summary["worst_entry"])
    candidate_value = property(lambda self: self._summary["candidate_value"])
    witness_value = property(lambda self: self._summary["witness_value"])
    tolerance = property(lambda self: self._summary["tolerance"])

    def describe(self) -> str:
        """One line: where the worst entry is, both values, the error and its tolerance."""
        if self.worst_entry is None:
            return f"layer {self.layer}, {self.param}: empty"
        name = lecture_index(self.param, self.layer, self.worst_entry, self.shape)
        index = ", ".join(str(i) for i in self.worst_entry)
        verdict = "ok" if self.ok else f"{len(self.bad_entries)} entries wrong"
        return (
            f"layer {self.layer}, {self.param}[{index}] ({name}): candidate "
            f"{self.candidate_value:.17g} vs witness {self.witness_value:.17g}, |diff| "
            f"{self.max_abs_error:.3g} (tolerance {self.tolerance:.3g}), {verdict}"
        )


@dataclass
class Comparison:
    """A candidate gradient against one witness, every (layer, parameter) compared."""

    witness: str
    params: list[ParamComparison] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # dtype and other whole-result issues

    @property
    def ok(self) -> bool:
        return not self.problems and all(p.ok for p in self.params)

    @property
    def mismatches(self) -> list[ParamComparison]:
        return [p for p in self.params if not p.ok]

    @property
    def max_abs_error(self) -> float:
        return max((p.max_abs_error for p in self.params), default=0.0)

    def message(self) -> str:
        """Every problem and every wrong (layer, parameter), one per line."""
        lines = [f"against {self.witness}: " + ("agrees" if self.ok else "DISAGREES")]
        lines += [f"  {problem}" for problem in self.problems]
        lines += [f"  {p.describe()}" for p in self.mismatches]
        return "\n".join(lines)


def _dtype_problems(candidate: list, dtype: Any) -> list[str]:
    problems = []
    for layer, pair in enumerate(candidate, start=1):
        for param, array in zip("Wb", pair, strict=True):
            got = np.asarray(array).dtype
            if np.issubdtype(got, np.floating) and np.finfo(got).eps > np.finfo(dtype).eps:
                problems.append(
                    f"layer {layer}, {param}: returned {got} for {np.dtype(dtype)} inputs; "
                    f"precision was lost."
                )
    return problems


def as_float_pairs(candidate: list) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (np.asarray(dW, dtype=np.float64), np.asarray(db, dtype=np.float64)) for dW, db in candidate
    ]


def compare_to_autodiff(
    candidate: list,
    ref: AutodiffPass,
    params: list,
    Y: np.ndarray,
    spec: Spec,
    dtype: Any,
    bounds: list | None = None,
) -> Comparison:
    """Compare a gradient computed in ``dtype`` with the ``jax.grad`` pass ``ref``.

    Entry tolerance: twice ``backprop_error_bound`` (both sides round; pass ``bounds`` if it is
    already computed for this case and dtype), plus the smallest normal number of ``dtype`` so
    that two underflowed values never disagree.
    """
    if bounds is None:
        bounds = backprop_error_bound(ref, params, Y, spec, dtype)
    tiny = float(np.finfo(dtype).tiny)
    comparison = Comparison("jax.grad", problems=_dtype_problems(candidate, dtype))
    for layer, (cand, wit, bound) in enumerate(
        zip(as_float_pairs(candidate), ref.grads, bounds, strict=True), start=1
    ):
        for param, c, w, e in zip("Wb", cand, wit, bound, strict=True):
            w = np.asarray(w, dtype=np.float64)
            tolerance = 2 * e + tiny
            bad = ~(np.abs(c - w) <= tolerance)  # NaN counts as bad

            def measure(c=c, w=w, tolerance=tolerance) -> tuple[np.ndarray, np.ndarray]:
                with np.errstate(over="ignore", invalid="ignore"):  # inf is a fine verdict
                    return np.abs(c - w) / tolerance, tolerance

            comparison.params.append(ParamComparison(layer, param, c, w, bad, measure))
    return comparison


def compare_to_fd(
    candidate: list,
    fd: FiniteDifferences,
    candidate_bounds: list | None = None,
    *,
    witness: str = "finite differences",
) -> Comparison:
    """Compare a gradient with the finite-difference witness, using its error estimate.

    A smooth entry must lie within the estimate (plus the candidate's own rounding bound, if
    given); a kink entry must lie in the one-sided interval ``[lower, upper]`` (widened the same
    way).
    """
    comparison = Comparison(witness)
    for layer, cand in enumerate(as_float_pairs(candidate), start=1):
        for k, (param, c) in enumerate(zip("Wb", cand, strict=True)):
            value = fd.gradients[layer - 1][k]
            lower, upper = fd.lower[layer - 1][k], fd.upper[layer - 1][k]
            kink = fd.kink[layer - 1][k]
            # no verdict where the finite differences abstain or did not difference the entry
            unresolved = fd.unresolved[layer - 1][k] | ~fd.sampled[layer - 1][k]
            extra = 0.0 if candidate_bounds is None else 2 * candidate_bounds[layer - 1][k]
            low, high = lower - extra, upper + extra
            bad = ~((c >= low) & (c <= high)) & ~unresolved

            def measure(
                c=c, low=low, high=high, unresolved=unresolved
            ) -> tuple[np.ndarray, np.ndarray]:
                resolved_low = np.where(unresolved, 0, low)
                resolved_high = np.where(unresolved, 0, high)
                half_width = np.maximum(
                    (resolved_high - resolved_low) / 2, np.finfo(np.float64).tiny
                )
                # inf is a fine verdict; an interval of infinite width (a bound that overflowed)
                # holds every value, and its undefined centre measures nothing
                everything = unresolved | (half_width == np.inf)
                with np.errstate(over="ignore", invalid="ignore"):
                    centre = (resolved_high + resolved_low) / 2
                    ratio = np.where(everything, 0.0, np.abs(c - centre) / half_width)
                return ratio, half_width

            comparison.params.append(
                ParamComparison(
                    layer, param, c, value, bad, measure, kink, fd.unresolved[layer - 1][k]
                )
            )
    return comparison
