"""Make a failing case smaller, one structural step at a time, as long as it still fails.

Hypothesis shrinks the random choices behind a case; that can stall on a network whose only
nonzero target sits in the last output unit, say, because dropping the last unit loses it. This
pass works on the network itself and tries, in order:

1. dropping the last layer (the layer below becomes the output, with the simplest targets) or
   the first (the next layer reads zeros);
2. dropping the second half of the examples, or of the units of one layer (for big cases),
   then one example;
3. dropping one unit of any layer, input and output included (its row and column of W, its
   entry of b, its column of X or Y);
4. a simpler loss (``output``, then ``square``; targets stay as they are, valid for both), and
   the identity for an activation;
5. zeroing a whole W or b, then single entries, then rounding entries to integers;
6. an input of 0 set to 1 (after which a layer may drop that could not before).

Every candidate is a valid case for the same loss; the first that still fails is kept and the
pass goes on from there until nothing more can be removed or the budget is spent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np

from reference.network import numpy_activation
from reference.spec import Spec
from reference.strategies import Case

__all__ = ["minimize", "moderated"]


def _simplest_targets(loss: str, n: int, width: int) -> np.ndarray:
    Y = np.zeros((n, width))
    if loss == "softmax_cross_entropy":
        Y[:, 0] = 1.0
    return Y


def _renormalized(loss: str, Y: np.ndarray) -> np.ndarray:
    if loss != "softmax_cross_entropy":
        return Y
    Y = Y.copy()
    Y[Y.sum(axis=1) == 0, 0] = 1.0
    return Y / Y.sum(axis=1, keepdims=True)


def _with(case: Case, **changes) -> Case:
    fields = {"spec": case.spec, "params": case.params, "X": case.X, "Y": case.Y}
    fields.update(changes)
    return Case(**fields)


def _without_last_layer(case: Case) -> Case | None:
    spec = case.spec
    if spec.depth == 1:
        return None
    top = Spec(spec.widths[:-1], spec.activations[:-1], spec.loss)
    Y = _simplest_targets(spec.loss, len(case.X), top.widths[-1])
    return Case(top, case.params[:-1], case.X, Y)


def _without_first_layer(case: Case) -> Case | None:
    spec = case.spec
    if spec.depth == 1:
        return None
    bottom = Spec(spec.widths[1:], spec.activations[1:], spec.loss)
    return Case(bottom, case.params[1:], np.zeros((len(case.X), bottom.widths[0])), case.Y)


def _without_example(case: Case, i: int) -> Case | None:
    if len(case.X) == 1 or i >= len(case.X):
        return None
    keep = np.arange(len(case.X)) != i
    return _with(case, X=case.X[keep], Y=case.Y[keep])


def _without_units(case: Case, layer: int, units: list[int]) -> Case | None:
    """``case`` without the given units of ``layer`` (input and output included): their row
    and column of W, their entries of b, their columns of X or Y."""
    spec, params = case.spec, [tuple(pair) for pair in case.params]
    if layer > spec.depth or not units or max(units) >= spec.widths[layer]:
        return None
    if len(units) >= spec.widths[layer]:  # a layer keeps at least one unit
        return None
    widths = list(spec.widths)
    widths[layer] -= len(units)
    X, Y = case.X, case.Y
    if layer == 0:
        X = np.delete(X, units, axis=1)
    else:
        W, b = params[layer - 1]
        params[layer - 1] = (np.delete(W, units, axis=1), np.delete(b, units))
        if layer == spec.depth:
            Y = _renormalized(spec.loss, np.delete(Y, units, axis=1))
    if layer < spec.depth:
        W, b = params[layer]
        params[layer] = (np.delete(W, units, axis=0), b)
    return Case(Spec(tuple(widths), spec.activations, spec.loss), params, X, Y)


def _without_unit(case: Case, layer: int, j: int) -> Case | None:
    return _without_units(case, layer, [j])


def _halved(case: Case, layer: int | None) -> Case | None:
    """The first half of the examples (``layer`` None) or of the units of one layer of at
    least 4: big cases first lose half of a dimension at a time, then single examples and
    units."""
    if layer is None:
        keep = (len(case.X) + 1) // 2
        if keep == len(case.X):
            return None
        return _with(case, X=case.X[:keep], Y=_renormalized(case.spec.loss, case.Y[:keep]))
    if layer > case.spec.depth or case.spec.widths[layer] < 4:
        return None
    width = case.spec.widths[layer]
    return _without_units(case, layer, list(range((width + 1) // 2, width)))


def _with_identity(case: Case, layer: int) -> Case | None:
    spec = case.spec
    if layer >= spec.depth or spec.activations[layer] == "identity":
        return None
    activations = list(spec.activations)
    activations[layer] = "identity"
    return _with(case, spec=Spec(spec.widths, tuple(activations), spec.loss))


#: Losses from the simplest (the lecture's R = H) up.
_SIMPLER_LOSSES = ("output", "square")


def _with_loss(case: Case, loss: str) -> Case | None:
    spec = case.spec
    if spec.loss == loss or spec.loss in _SIMPLER_LOSSES[: _SIMPLER_LOSSES.index(loss)]:
        return None
    return _with(case, spec=Spec(spec.widths, spec.activations, loss))


def _with_value(case: Case, layer: int, k: int, index: tuple | None, how: str) -> Case | None:
    if layer >= case.spec.depth:
        return None
    params = [list(pair) for pair in case.params]
    array = params[layer][k]
    if index is not None and any(i >= size for i, size in zip(index, array.shape, strict=True)):
        return None
    if index is None:
        if not array.any():
            return None
        params[layer][k] = np.zeros_like(array)
    else:
        value = array[index]
        new = 0.0 if how == "zero" else float(np.round(value))
        if value == new:
            return None
        array = array.copy()
        array[index] = new
        params[layer][k] = array
    return _with(case, params=[tuple(pair) for pair in params])


def _with_unit_input(case: Case, index: tuple[int, int]) -> Case | None:
    """The input ``index`` set from 0 to 1: a network fed only zeros hides formula 3 (every
    ∂R/∂W^(1) is 0), so a smaller case may need one nonzero input to fail the same way."""
    if any(i >= size for i, size in zip(index, case.X.shape, strict=True)) or case.X[index]:
        return None
    X = case.X.copy()
    X[index] = 1.0
    return _with(case, X=X)


def _candidates(case: Case) -> Iterator[Callable[[Case], Case | None]]:
    """Ways to make ``case`` smaller, each a function of the current case (None: not possible)."""
    spec = case.spec
    yield _without_last_layer
    yield _without_first_layer
    yield lambda c: _halved(c, None)
    for layer in range(spec.depth + 1):
        yield lambda c, layer=layer: _halved(c, layer)
    for i in range(len(case.X)):
        yield lambda c, i=i: _without_example(c, i)
    for layer in range(spec.depth + 1):
        for j in range(spec.widths[layer]):
            yield lambda c, layer=layer, j=j: _without_unit(c, layer, j)
    for loss in _SIMPLER_LOSSES:
        yield lambda c, loss=loss: _with_loss(c, loss)
    for layer in range(spec.depth):
        yield lambda c, layer=layer: _with_identity(c, layer)
    for layer in range(spec.depth):
        for k in range(2):
            yield lambda c, layer=layer, k=k: _with_value(c, layer, k, None, "zero")
    for how in ("zero", "round"):
        for layer, pair in enumerate(case.params):
            for k, array in enumerate(pair):
                for index in np.ndindex(array.shape):
                    yield lambda c, layer=layer, k=k, index=index, how=how: _with_value(
                        c, layer, k, index, how
                    )
    for index in np.ndindex(case.X.shape):
        yield lambda c, index=index: _with_unit_input(c, index)


def minimize(
    case: Case,
    fails: Callable[[Case], bool],
    *,
    budget: int = 1500,
    seconds: float = 10.0,
    admits: Callable[[Case], bool] | None = None,
) -> tuple[Case, int]:
    """The smallest failing case this pass finds from ``case``, and how many cases it ran.

    ``fails(case)`` must be true of ``case``; at most ``budget`` candidates are run, and none
    is started after ``seconds`` (a big case shrinks by halves first, so the time goes to the
    steps that remove most). With ``admits``, a candidate it rejects is neither run nor kept
    (the declared scope of ``reference.harness.check``).
    """
    tried = 0
    stop = time.monotonic() + seconds

    def spent() -> bool:
        return tried >= budget or time.monotonic() >= stop

    while not spent():
        improved = False
        for step in _candidates(case):
            candidate = step(case)
            while candidate is not None and not spent():
                if admits is not None and not admits(candidate):
                    break
                tried += 1
                if not fails(candidate):
                    break
                case, improved = candidate, True
                candidate = step(case)  # the same step again: the next example, unit, entry
            if spent():
                break
        if not improved:
            break
    return case, tried


#: The largest |z| a moderated case keeps: no exp of it, nor its square, overflows.
MODERATE = 30.0


def moderated(case: Case) -> Case:
    """The same network with moderate values: weights, biases and inputs halved together until
    no pre-activation exceeds ``MODERATE`` in magnitude (at most 64 times)."""
    params, X = case.params, case.X
    for _ in range(64):
        a, largest = X, 0.0
        for (W, b), name in zip(params, case.spec.activations, strict=True):
            z = a @ W + b
            largest = max(largest, float(np.abs(z).max(initial=0.0)))
            a = numpy_activation(name)(z)
        if largest <= MODERATE:
            break
        params, X = [(W / 2, b / 2) for W, b in params], X / 2
    return _with(case, params=params, X=X)
