"""The compiled stencil of the finite differences: where the work of a layer is large, the whole
pass from the moved unit's column to R runs as one jitted XLA function (activations fused with
the next layer's sum, both cores), called on chunks padded to one shape. The same values of R as
the NumPy path of ``reference.fd_batched``, up to rounding the forward-error model covers; float64
only. The six stencil points are ``reference.fd_stencil.OFFSETS``, as in the NumPy path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from reference.fd_stencil import OFFSETS
from reference.network import numpy_activation, per_example_loss
from reference.spec import KINKED_ACTIVATIONS

__all__ = ["Columns", "layer_entries_compiled"]

#: Elements (copies x examples x units) one compiled call handles, for the plain stencil and
#: the addition-theorem one (False, True): the latter stores the change of its widest layer
#: for a matrix product, and runs fastest while that stays in cache.
_COMPILED_CALL = {False: 2_000_000, True: 500_000}


#: Activations of layer l+1 that the compiled stencil may evaluate by the addition theorem
#: (see ``_compiled_stencil``), and the factor c of each: g(z) = α + β tanh(c z).
_TANH_LIKE = {"tanh": 1.0, "sigmoid": 0.5}
#: The largest |c m|, m a move of z^(l+1), for which the [5/4] Padé approximant of tanh is used:
#: its mathematical relative error there is below u / 20 (tests/test_fd.py).
_SMALL_MOVE = 0.1


def _tanh_small(x: Any) -> tuple[Any, Any]:
    """tanh(x) for |x| <= ``_SMALL_MOVE`` as a fraction p / q: x (945 + 105 x^2 + x^4) over
    945 + 420 x^2 + 15 x^4, a convergent of Lambert's continued fraction for tanh."""
    x2 = x * x
    return x * (945.0 + x2 * (105.0 + x2)), 945.0 + x2 * (420.0 + 15.0 * x2)


def _tanh_like_change(move: Any, c: float, tilt: Any, gain: Any) -> Any:
    """g(z + m) - g(z) = σ t / (1 + τ t), t = tanh(c m) = p / q by ``_tanh_small``, for
    |c m| <= ``_SMALL_MOVE``, with (τ, σ) from ``_tanh_like_shape``: one division."""
    p, q = _tanh_small(move * c)
    return gain * p / (q + tilt * p)


def _tanh_like_shape(name: str, z: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(τ, σ) with g(z + m) - g(z) = σ t / (1 + τ t), t = tanh(c m), for g in ``_TANH_LIKE``.

    tanh: tanh(z + m) = (a + t) / (1 + a t) gives τ = a, σ = (1 - a)(1 + a). sigmoid, which is
    (1 + tanh(z / 2)) / 2: τ = tanh(z / 2) = g(z) - g(-z), σ = 2 g(z) g(-z), both without the
    cancellation of 1 - g(z).
    """
    if name == "tanh":
        return a, (1 - a) * (1 + a)
    mirror = numpy_activation(name)(-z)
    return a - mirror, 2 * a * mirror


def _kinks(z: Any, base: Any) -> Any:
    """Distinct (example, unit) sign changes against ``base`` per entry's 6 copies."""
    import jax.numpy as jnp

    flipped = jnp.sign(z) != jnp.sign(base)
    flipped = flipped.reshape(-1, len(OFFSETS), int(np.prod(flipped.shape[1:])))
    return flipped.any(axis=1).sum(axis=1, dtype=jnp.int32)


def _onward(
    spec: Any, z: Any, first: int, crossings: Any, base: tuple, later: tuple, Y: Any
) -> tuple[Any, Any]:
    """Layers ``first`` ... L from z^(first), (P, n, n_first), traced: R per copy and crossings."""
    import jax.numpy as jnp

    from reference.network import jax_activation

    for offset, current in enumerate(range(first, spec.depth + 1)):
        if spec.activations[current - 1] in KINKED_ACTIVATIONS:
            crossings += _kinks(z, base[offset][None])
        a = jax_activation(spec.activations[current - 1])(z)
        if current < spec.depth:
            W, b = later[offset]
            # narrow: reductions along the minor axis, one per unit (R up to rounding)
            if W.shape[1] <= 8:  # pragma: no mutate
                z = jnp.stack([jnp.sum(a * W[:, k], axis=-1) for k in range(W.shape[1])], -1)
            else:
                z = a @ W
            z = z + b
    return per_example_loss(jnp, spec.loss, a, Y).mean(axis=-1), crossings


@functools.lru_cache(maxsize=64)
def _compiled_stencil(spec: Any, layer: int, addition: bool) -> Callable:
    """The stencil of a chunk of layer ``layer``'s entries, compiled: what
    ``fd_batched.layer_entries`` does in NumPy, from the moved unit's column to R, as one XLA
    function.

    It maps (offsets (P,), input rows (P,), units (P,), the layer's inputs transposed with a row
    of ones (n_{l-1} + 1, n), Z^(l) and A^(l) transposed (n_l, n), W^(l+1), Z^(l+1..L), A^(l+1)
    and its ``_tanh_like_shape`` (or empty), the parameters of layers l+2..L, Y) to (R at each
    copy (P,), kink crossings per entry (P / 6,)). Copy p moves unit j = units_p of layer l by
    offsets_p times input row i = rows_p: its new column is Z^(l)_j + t a_i^(l-1); the change of
    its activation times row j of W^(l+1), m, moves Z^(l+1), and layers l+1 ... L follow in
    full, exactly as in NumPy. A layer narrower than 9 units is a fused multiply-and-sum rather
    than a matrix product, so that the widest layer's activations are never stored.

    With ``addition`` (g^(l+1) in ``_TANH_LIKE`` and every |m| <= ``_SMALL_MOVE``), layer l+1's
    activations come from the addition theorem instead, g(z + m) = g(z) + σ t / (1 + τ t) with
    t = tanh(c m) by ``_tanh_small`` (no derivative: an identity of tanh, and tanh near 0), and
    z^(l+2) = Z^(l+2) + (that change) W^(l+2): a handful of multiplications and one division per
    element where g itself costs several times as much; R at the stencil is the same function
    value up to rounding the forward-error model covers.
    """
    import jax
    import jax.numpy as jnp

    from reference.network import jax_activation

    def stencil(
        offsets: Any,
        rows: Any,
        units: Any,
        inputs: Any,
        z_rows: Any,
        a_rows: Any,
        W_next: Any,
        base: tuple,
        shape: tuple,
        later: tuple,
        Y: Any,
    ) -> tuple[Any, Any]:
        column = z_rows[units] + offsets[:, None] * inputs[rows]  # (P, n)
        crossings = jnp.zeros(offsets.shape[0] // len(OFFSETS), dtype=jnp.int32)
        if spec.activations[layer - 1] in KINKED_ACTIVATIONS:
            crossings += _kinks(column, z_rows[units])
        change = jax_activation(spec.activations[layer - 1])(column) - a_rows[units]
        # computed once per copy and example, not again for every unit it is broadcast to
        change = jax.lax.optimization_barrier(change)
        move = change[:, :, None] * W_next[units][:, None, :]  # (P, n, n_{l+1})
        if not addition:
            return _onward(spec, base[0][None] + move, layer + 1, crossings, base, later, Y)
        a_next, tilt, gain = shape
        delta = _tanh_like_change(move, _TANH_LIKE[spec.activations[layer]], tilt, gain)
        if layer + 1 == spec.depth:
            risk = per_example_loss(jnp, spec.loss, a_next[None] + delta, Y).mean(axis=-1)
            return risk, crossings
        W, _ = later[0]
        z = base[1][None] + (delta.reshape(-1, W.shape[0]) @ W).reshape(*delta.shape[:2], -1)
        return _onward(spec, z, layer + 2, crossings, base[1:], later[1:], Y)

    return jax.jit(stencil)


class Columns(NamedTuple):
    """What every stencil of layer l gathers from, prepared once per call of
    ``fd_batched.layer_entries``: rows transposed so that each copy gathers contiguous rows."""

    inputs: np.ndarray  # a^(l-1) transposed with a row of ones, (n_{l-1} + 1, n)
    z_rows: np.ndarray  # z^(l) transposed, (n_l, n)
    a_rows: np.ndarray  # a^(l) transposed, (n_l, n)
    rows: np.ndarray  # each entry's input row i, (entries,)
    units: np.ndarray  # each entry's unit j, (entries,)


def layer_entries_compiled(
    layer: int,
    params: list,
    A: list,
    Y: np.ndarray,
    spec: Any,
    base_Z: list,
    steps: np.ndarray,
    columns: Columns,
) -> tuple[np.ndarray, np.ndarray]:
    """``fd_batched.layer_entries`` with the whole stencil compiled (see ``_compiled_stencil``).

    Entries whose every stencil point moves z^(l+1) by at most ``_SMALL_MOVE`` take the
    addition-theorem stencil where g^(l+1) allows it, the others the plain one. The layer's
    arrays go to the device once; each call gets only three vectors (the copies' offsets, input
    rows and units), padded to one length with unchanged copies, and calls are dispatched ahead
    while earlier ones run.
    """
    import jax

    from reference.network import computing_in

    points = len(OFFSETS)
    inputs, rows, units = columns.inputs, columns.rows, columns.units
    W_next, name = params[layer][0], spec.activations[layer]
    shape: tuple = ()
    addition = np.zeros(steps.size, dtype=bool)
    if name in _TANH_LIKE:
        shape = (A[layer + 1], *_tanh_like_shape(name, base_Z[layer + 1], A[layer + 1]))
        # no activation moves its output by more than its input's move (all are 1-Lipschitz),
        # so |m| <= |offset| max_k |a_i^(l-1)| max_k |W^(l+1)_jk|, times c; |offset| <= h
        reach = np.abs(inputs).max(axis=1)[rows] * np.abs(W_next).max(axis=1)[units]
        addition = steps * reach * _TANH_LIKE[name] <= _SMALL_MOVE
    risks = np.empty((steps.size, points), dtype=np.float64)
    crossings = np.empty(steps.size, dtype=np.int64)
    with computing_in(np.float64):  # the only dtype this path runs in (fd_batched)
        constants = jax.device_put(
            (
                inputs,
                columns.z_rows,
                columns.a_rows,
                W_next,
                tuple(base_Z[layer + 1 :]),
                shape,
                tuple(params[layer + 1 :]),
                Y,
            )
        )
        for mode in (False, True):
            pick = addition == mode
            if not pick.any():
                continue
            function = _compiled_stencil(spec, layer, mode)
            # How many copies a call takes, and the padding to a whole number of calls, decide
            # speed alone: no value depends on them (tests/test_fd.py runs calls of 600
            # elements against the NumPy path), so mutation testing leaves these lines alone.
            elements = points * len(Y) * (1 + spec.widths[layer + 1])  # pragma: no mutate
            copies = max(1, _COMPILED_CALL[mode] // elements) * points  # pragma: no mutate
            offsets = (steps[pick, None] * OFFSETS).reshape(-1)
            vectors = [offsets, np.repeat(rows[pick], points), np.repeat(units[pick], points)]
            padding = -offsets.size % copies  # pragma: no mutate
            vectors = [np.concatenate([v, np.zeros(padding, v.dtype)]) for v in vectors]
            pending = [
                function(*(v[at : at + copies] for v in vectors), *constants)
                for at in range(0, vectors[0].size, copies)  # pragma: no mutate
            ]
            risk = np.concatenate([np.asarray(r) for r, _ in pending])[: offsets.size]
            risks[pick] = risk.reshape(-1, points)
            crossed = np.concatenate([np.asarray(c) for _, c in pending])[: pick.sum()]
            crossings[pick] = crossed
    return risks, crossings
