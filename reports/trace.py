"""Backprop worked through layer by layer, each quantity from the three witnesses side by side.

Finite differences see only values of H. ∂H/∂z^(l) is ∂H/∂b^(l) (formula 4, one example), and
∂H/∂a^(l) is the bias gradient of an identity layer (W = I, b = 0) inserted after layer l, which
leaves H unchanged: both come from ``fd_gradients`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import manual
from reference import Spec, autodiff_backward, finite_differences
from reference.spec import lecture_name
from reference.verify import ThreeWay, verify

__all__ = ["Row", "Trace", "trace"]


@dataclass
class Row:
    """One scalar quantity of the trace, from each witness."""

    layer: int
    name: str  # lecture notation, e.g. "∂H/∂W^(2)_13"
    manual: float
    autodiff: float | None  # None for forward quantities (one forward pass is shared)
    fd: float | None
    fd_error: float | None
    index: tuple[int, ...] = ()  # 0-based, into the quantity's array

    @property
    def agrees(self) -> bool:
        """Manual and jax.grad both lie within the finite-difference estimate of its value.

        (The strict, rounding-level verdict on the parameter gradients is ``Trace.verdict``.)
        """
        if self.autodiff is None or self.fd is None or self.fd_error is None:
            return True
        return all(abs(value - self.fd) <= self.fd_error for value in (self.manual, self.autodiff))


@dataclass
class Trace:
    """A worked example: forward rows, backward rows, and the strict three-way verdict."""

    spec: Spec
    forward: list[Row]
    backward: list[Row]
    verdict: ThreeWay  # manual's parameter gradient against jax.grad's error bound and the FD

    @property
    def agrees(self) -> bool:
        return self.verdict.ok and all(row.agrees for row in self.backward)


def _inserted_identity(spec: Spec, params: list, layer: int) -> tuple[Spec, list]:
    width = spec.widths[layer]
    widths = (*spec.widths[: layer + 1], width, *spec.widths[layer + 1 :])
    activations = (*spec.activations[:layer], "identity", *spec.activations[layer:])
    identity = (np.eye(width), np.zeros(width))
    return Spec(widths, activations, spec.loss), [*params[:layer], identity, *params[layer:]]


def _entries(layer: int, symbol: str, values: np.ndarray, **witnesses: Any) -> list[Row]:
    rows = []
    for index in np.ndindex(values.shape):
        rows.append(
            Row(
                layer,
                lecture_name(symbol, layer, index, values.shape),
                float(values[index]),
                *(None if w is None else float(w[index]) for w in witnesses.values()),
                index=tuple(int(i) for i in index),
            )
        )
    return rows


def trace(params: Any, X: Any, Y: Any, spec: Spec) -> Trace:
    """Every z, a, ∂H/∂a, ∂H/∂z, ∂H/∂W, ∂H/∂b of a one-example network, from all witnesses."""
    if np.shape(X)[0] != 1:
        raise ValueError(f"trace follows one example; X has {np.shape(X)[0]} rows.")
    ours = manual.backward(params, X, Y, spec)
    theirs = autodiff_backward(params, X, Y, spec)
    fd = finite_differences(params, X, Y, spec)
    forward_rows, backward_rows = [], []
    for layer in range(1, spec.depth + 1):
        forward_rows += _entries(
            layer, "z", ours.forward.Z[layer][0], autodiff=None, fd=None, err=None
        )
        forward_rows += _entries(
            layer, "a", ours.forward.A[layer][0], autodiff=None, fd=None, err=None
        )
        probe_spec, probe_params = _inserted_identity(spec, params, layer)
        probe = finite_differences(probe_params, X, Y, probe_spec)
        fd_a, fd_a_err = probe.gradients[layer][1], probe.error[layer][1]  # the inserted bias
        ours_W, ours_b = ours.grads[layer - 1]
        theirs_W, theirs_b = theirs.grads[layer - 1]
        fd_W, fd_b = fd.gradients[layer - 1]
        err_W, err_b = fd.error[layer - 1]
        for symbol, mine, autodiff, fd_value, fd_error in (
            ("∂H/∂a", ours.dA[layer][0], theirs.dA[layer][0], fd_a, fd_a_err),
            ("∂H/∂z", ours.delta[layer][0], theirs.dZ[layer][0], fd_b, err_b),  # formula 4
            ("∂H/∂W", ours_W, theirs_W, fd_W, err_W),
            ("∂H/∂b", ours_b, theirs_b, fd_b, err_b),
        ):
            backward_rows += _entries(
                layer, symbol, mine, autodiff=autodiff, fd=fd_value, err=fd_error
            )
    return Trace(spec, forward_rows, backward_rows, verify(manual.gradients, params, X, Y, spec))


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value + 0.0:.10g}"  # + 0.0 turns -0 into 0


def render(result: Trace) -> str:
    """The trace as a plain-text table, layers from last to first for the backward pass."""
    spec = result.spec
    lines = [
        f"Network: widths {spec.widths}, activations {spec.activations}, loss {spec.loss!r}",
        "",
        "Forward pass (step 1: keep every z and a)",
    ]
    for row in result.forward:
        lines.append(f"  layer {row.layer}  {row.name:<10} = {_number(row.manual)}")
    lines += [
        "",
        "Backward pass (step 2: layers L ... 1; formulas 1-4)",
        f"  {'quantity':<16}{'manual':>16}{'jax.grad':>16}{'finite diff.':>16}"
        f"{'± estimate':>12}  agree",
    ]
    for layer in range(spec.depth, 0, -1):
        for row in (r for r in result.backward if r.layer == layer):
            lines.append(
                f"  {row.name:<16}{_number(row.manual):>16}{_number(row.autodiff):>16}"
                f"{_number(row.fd):>16}{row.fd_error:>12.1e}  {'yes' if row.agrees else 'NO'}"
            )
    lines.append("")
    verdict = "all three witnesses agree" if result.agrees else "the witnesses DISAGREE"
    lines.append(f"Verdict: {verdict} on {len(result.backward)} quantities.")
    if not result.verdict.ok:
        lines.append(result.verdict.message())
    return "\n".join(lines)
