"""The stencil of the finite differences at each entry: its first step, and what R at w ± h,
w ± h/2, w ± h/4 says (the extrapolated value, its error estimate, the one-sided interval
for a kink, and whether the differences follow their expansion). The stencil's six points
are ``OFFSETS``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["OFFSETS", "Estimate", "stencil_estimate", "step_for"]

#: Stencil offsets, in units of h: the central pairs for D(h), D(h/2) and D(h/4).
OFFSETS = np.array([1.0, -1.0, 0.5, -0.5, 0.25, -0.25])


def step_for(values: np.ndarray, dtype: Any, reach: np.ndarray | float = 1.0) -> np.ndarray:
    """The first step h for the differences at each entry, a power of two.

    After two Richardson steps the truncation error falls like h^4 |R^(5)| while rounding grows
    like u |R| / h; they balance at h ~ u^(1/5) times the entry's scale. That scale is
    max(|w|, 1) (never below the spacing of floats around w) divided by the entry's ``reach``,
    the largest input it multiplies (max_i |a_i^(l-1)| for W^(l)_jk, 1 for a bias): a step in a
    weight that multiplies 10^4 moves its pre-activation 10^4 times as far, and R varies on the
    scale of the pre-activation. Rounding h to a power of two makes w ± h, w ± h/2, w ± h/4 exact
    whenever w is a multiple of h/4 (every small integer or dyadic weight), and division by h
    exact, so piecewise-linear cases come out exactly. Where R still varies on a finer scale,
    the expansion check shrinks the step (see the module).
    """
    eps = np.finfo(dtype).eps
    raw = eps**0.2 * np.maximum(np.abs(values), 1.0) / np.maximum(reach, 1.0)
    return np.exp2(np.round(np.log2(raw))).astype(dtype)


class Estimate(NamedTuple):
    """What one stencil says about each entry (all (entries,))."""

    value: np.ndarray
    error: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    expanding: np.ndarray  # bool: D(h), D(h/2), D(h/4) follow their expansion beyond noise


def stencil_estimate(
    risks: np.ndarray, base: float, h: np.ndarray, rounding: np.ndarray
) -> Estimate:
    """Values, error estimates and one-sided intervals from R on the stencil.

    ``rounding`` bounds the error of each R value; a difference quotient over s carries at most
    ``rounding / s`` of it.
    """
    plus, minus, plus_half, minus_half, plus_quarter, minus_quarter = risks.T
    d_full = (plus - minus) / (2 * h)
    d_half = (plus_half - minus_half) / h
    d_quarter = (plus_quarter - minus_quarter) / (h / 2)
    coarse = (4 * d_half - d_full) / 3
    value = (4 * d_quarter - d_half) / 3
    noise = rounding / h  # D(h) carries at most this, D(h/2) twice, D(h/4) four times
    error = np.abs(coarse - value) + 6 * noise
    first, second = d_full - d_half, d_half - d_quarter  # c h^2 (3/4) and c h^2 (3/16)
    odd = np.abs(first - 4 * second) <= 0.25 * np.abs(first) + 27 * noise
    # The even part, S(s) = (R(w+s) + R(w-s) - 2 R(w)) / s^2 = R'' + c' s^2 + ..., from the same
    # values: its differences must be in the ratio 4 : 1 too (rounding: 4, 16 and 64 ε / h^2).
    # Far from the asymptotic regime one ratio can come out near 4 by chance; both rarely do.
    s_full, s_half, s_quarter = (
        (up + down - 2 * base) / (s * s)
        for up, down, s in (
            (plus, minus, h),
            (plus_half, minus_half, h / 2),
            (plus_quarter, minus_quarter, h / 4),
        )
    )
    first_even, second_even = s_full - s_half, s_half - s_quarter
    even = np.abs(first_even - 4 * second_even) <= (0.25 * np.abs(first_even) + 340 * noise / h)
    expanding = odd & even
    one_sided = np.stack(
        [
            (base - minus_half) / (h / 2),
            (base - minus_quarter) / (h / 4),
            (plus_half - base) / (h / 2),
            (plus_quarter - base) / (h / 4),
        ]
    )  # (4, entries): left h/2, left h/4, right h/2, right h/4
    spread = np.abs(one_sided[0] - one_sided[1]) + np.abs(one_sided[2] - one_sided[3])
    side_error = spread + 8 * noise
    lower = np.minimum(one_sided.min(axis=0) - side_error, value - error)
    upper = np.maximum(one_sided.max(axis=0) + side_error, value + error)
    return Estimate(value, error, lower, upper, expanding)
