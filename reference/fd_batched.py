"""R at the stencils of a layer's entries, many perturbed copies at once: in NumPy (batched,
no compilation), or, where the work is large, through the compiled stencil
(``reference.fd_compiled``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reference.fd_compiled import Columns, layer_entries_compiled
from reference.fd_stencil import OFFSETS
from reference.network import numpy_activation, per_example_loss
from reference.spec import KINKED_ACTIVATIONS

__all__ = ["CHUNK", "COMPILE_ABOVE", "layer_entries"]

#: The most perturbed copies of a layer evaluated at once; bounds memory to about
#: CHUNK x n x max(n_l) floats per layer.
CHUNK = 4096

#: Perturbed copies x examples x units of the first layer a stencil recomputes in full, above
#: which that layer and the rest of the pass run compiled (XLA: one fused loop over both cores,
#: activations included) instead of in NumPy. Below it, the compilation (a fraction of a
#: second per network and layer) would cost more than it saves.
COMPILE_ABOVE = 2_000_000


def _finish(
    z: np.ndarray,
    layer: int,
    params: list,
    Y: np.ndarray,
    spec: Any,
    base_Z: list,
) -> tuple[np.ndarray, np.ndarray]:
    """Forward from perturbed z^(layer), (E*6, n, n_l), for E entries' 6-point stencils.

    Returns R at every stencil point, (E*6,), and per entry the number of distinct relu or
    leaky_relu pre-activations (example, unit) whose sign differs from the unperturbed one at
    some stencil point, (E,).
    """
    points = len(OFFSETS)
    crossings = np.zeros(z.shape[0] // points, dtype=np.int64)
    for current in range(layer, spec.depth + 1):
        if current > layer:
            W, b = params[current - 1]
            z = z @ W + b  # (E*6, n, n_l) = (E*6, n, n_{l-1}) @ (n_{l-1}, n_l) + (n_l,)
        name = spec.activations[current - 1]
        if name in KINKED_ACTIVATIONS:
            flipped = np.sign(z) != np.sign(base_Z[current])  # (E*6, n, n_l)
            crossings += flipped.reshape(-1, points, flipped[0].size).any(axis=1).sum(axis=1)
        z = numpy_activation(name)(z)
    risk = per_example_loss(np, spec.loss, z, Y).mean(axis=-1)  # (E*4,)
    return risk, crossings


def layer_entries(
    layer: int,
    params: list,
    A: list,
    Y: np.ndarray,
    spec: Any,
    base_Z: list,
    entries: np.ndarray,
    steps: np.ndarray,
    chunk: int,
) -> tuple[np.ndarray, np.ndarray]:
    """R at the stencil of the given entries of layer ``layer``'s parameters with the given
    steps, (entries, 6), and the number of kinks each entry's stencil crosses, (entries,).

    Entries are numbered as in the stacked matrix [W^(l); b^(l)], (n_{l-1} + 1, n_l): entry
    (i, j) is W_ij for i < n_{l-1} and b_j for i = n_{l-1}, a weight whose input is always 1.
    A step t in it moves z_j^(l) alone, by t a_i^(l-1) (or t) in every example: only that
    column of layer l is recomputed, and layer l+1 changes by the rank-one term
    (a_j' - a_j) W_j^(l+1). From there on the forward pass runs in full. Every R value is still
    the forward function evaluated at the perturbed parameters.
    """
    W = params[layer - 1][0]
    A_prev, a_base = A[layer - 1], A[layer]
    n = A_prev.shape[0]
    columns = Columns(
        np.vstack([A_prev.T, np.ones((1, n), dtype=A_prev.dtype)]),
        np.ascontiguousarray(base_Z[layer].T),
        np.ascontiguousarray(a_base.T),
        *np.unravel_index(entries, (W.shape[0] + 1, W.shape[1])),
    )
    inputs, z_rows, a_rows, rows, units = columns
    name = spec.activations[layer - 1]
    points = len(OFFSETS)
    risks = np.empty((entries.size, points), dtype=A_prev.dtype)
    crossings = np.zeros(entries.size, dtype=np.int64)
    width_after = spec.widths[min(layer + 1, spec.depth)]  # pragma: no mutate
    per_chunk = max(1, chunk // (points * max(1, n * width_after // 64)))  # pragma: no mutate
    # the column, then the next layer: it picks the path (both give R up to rounding)
    work = entries.size * points * n * (1 + width_after)  # pragma: no mutate
    # float64 only: the forward-error model's 4 u |a| per activation is checked for XLA's
    # float64 activations (tests/test_fd.py), not for its float32 approximations
    if layer < spec.depth and work >= COMPILE_ABOVE and A_prev.dtype == np.float64:
        return layer_entries_compiled(layer, params, A, Y, spec, base_Z, steps, columns)
    for start in range(0, entries.size, per_chunk):
        part = slice(start, min(entries.size, start + per_chunk))
        offsets = (steps[part, None] * OFFSETS).reshape(-1)  # (E*6,)
        unit = np.repeat(units[part], points)  # the unit j each perturbed copy moves
        moved = offsets[:, None] * inputs[np.repeat(rows[part], points)]  # (E*6, n)
        z_column = z_rows[unit] + moved  # (E*6, n): the new z_j in every example
        crossed = np.zeros(offsets.size // points, dtype=np.int64)
        if name in KINKED_ACTIVATIONS:
            flipped = np.sign(z_column) != np.sign(z_rows[unit])
            crossed += flipped.reshape(-1, points, n).any(axis=1).sum(axis=1)
        a_column = numpy_activation(name)(z_column)
        if layer == spec.depth:
            H = np.broadcast_to(a_base, (offsets.size, *a_base.shape)).copy()
            H[np.arange(offsets.size), :, unit] = a_column
            risk = per_example_loss(np, spec.loss, H, Y).mean(axis=-1)
        else:
            change = a_column - a_rows[unit]  # (E*6, n)
            W_next = params[layer][0]
            z_next = base_Z[layer + 1][None] + change[:, :, None] * W_next[unit][:, None, :]
            risk, crossed_after = _finish(z_next, layer + 1, params, Y, spec, base_Z)
            crossed += crossed_after
        risks[part] = risk.reshape(-1, points)
        crossings[part] = crossed
    return risks, crossings
