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

__all__ = ["Row", "Trace", "network_from", "render", "render_exercise_1", "trace"]


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


def render_exercise_1() -> str:
    from reports.lecture import exercise_1

    answer = exercise_1()
    lines = [
        "The lecture's exercise 1, worked through by three witnesses.",
        f"  {answer['question']}",
        f"  {answer['reason']}",
        f"  Answer: ∂H/∂W^(1)_11 = {answer['answer']:g}.",
        "  The rest of the network is not given; on three completions of it:",
        f"    {'network':<28}{'manual':>10}{'jax.grad':>10}{'finite diff.':>14}",
    ]
    for item in answer["completions"]:
        network = "-".join(map(str, item["widths"])) + " " + ", ".join(item["activations"])
        values = item["dH_dW1_11"]
        lines.append(
            f"    {network:<28}{values['manual']:>10g}{values['jax']:>10g}{values['fd']:>14g}"
        )
    verdict = "all three witnesses agree" if answer["agrees"] else "the witnesses DISAGREE"
    lines.append(f"Verdict: {verdict} with the answer on every completion.")
    return "\n".join(lines)


def _json_array(text: str, option: str) -> list:
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"--{option} is not valid JSON ({exc.msg} at column {exc.colno})."
        ) from None
    if not isinstance(value, list):
        raise ValueError(f"--{option} must be a JSON list, got {type(value).__name__}.")
    return value


def network_from(args: Any) -> tuple[list, np.ndarray, np.ndarray, Any]:
    """The network ``trace --weights ... --x ...`` describes (``args`` has the options as
    attributes), or ValueError in one sentence."""
    from reference import Spec

    if args.x is None:
        raise ValueError("--weights needs --x, the input (a JSON list of n_0 numbers).")
    weights, x = _weights_and_input(args)
    biases = _biases(args, weights)
    activations = _activations(args, len(weights))
    outputs = weights[-1].shape[1]
    if args.y is None:
        Y = np.zeros((1, outputs))
    else:
        Y = np.asarray(_json_array(args.y, "y"), dtype=np.float64).reshape(1, -1)
        if Y.shape[1] != outputs:
            raise ValueError(f"--y must be a list of {outputs} numbers (the output units).")
    spec = Spec((weights[0].shape[0], *(W.shape[1] for W in weights)), activations, args.loss)
    return list(zip(weights, biases, strict=True)), x[None, :], Y, spec


def _weights_and_input(args: Any) -> tuple[list[np.ndarray], np.ndarray]:
    try:
        weights = [np.asarray(W, dtype=np.float64) for W in _json_array(args.weights, "weights")]
        x = np.asarray(_json_array(args.x, "x"), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        message = str(exc)
        if not message.startswith("--"):  # NumPy's own words: a ragged list or a non-number
            message = "--weights and --x must be rectangular lists of numbers."
        raise ValueError(message) from None
    if not weights:
        raise ValueError("--weights must hold at least one matrix.")
    for layer, W in enumerate(weights, start=1):
        if W.ndim != 2 or W.size == 0:
            raise ValueError(
                f"--weights: W^({layer}) must be a non-empty matrix (a list of rows), "
                f"got shape {W.shape}."
            )
        if layer > 1 and W.shape[0] != weights[layer - 2].shape[1]:
            raise ValueError(
                f"--weights: W^({layer}) has {W.shape[0]} rows but layer {layer - 1} has "
                f"{weights[layer - 2].shape[1]} units."
            )
    if x.ndim != 1 or x.size != weights[0].shape[0]:
        raise ValueError(
            f"--x must be a list of {weights[0].shape[0]} numbers (the rows of W^(1)), "
            f"got shape {x.shape}."
        )
    return weights, x


def _biases(args: Any, weights: list[np.ndarray]) -> list[np.ndarray]:
    if args.biases is None:
        return [np.zeros(W.shape[1]) for W in weights]
    biases = [np.asarray(b, dtype=np.float64) for b in _json_array(args.biases, "biases")]
    if [b.shape for b in biases] != [(W.shape[1],) for W in weights]:
        raise ValueError(
            "--biases must be one list per layer, as long as that layer's units: "
            f"expected {[W.shape[1] for W in weights]}."
        )
    return biases


def _activations(args: Any, depth: int) -> tuple[str, ...]:
    from reference.spec import ACTIVATIONS, LOSSES

    if args.activations is None:
        activations = ("relu",) * (depth - 1) + ("identity",)
    else:
        activations = tuple(name.strip() for name in args.activations.split(","))
        if len(activations) != depth:
            raise ValueError(f"--activations names {len(activations)} layers, the weights {depth}.")
        unknown = [name for name in activations if name not in ACTIVATIONS]
        if unknown:
            raise ValueError(
                f"unknown activation {unknown[0]!r}; choose from {', '.join(ACTIVATIONS)}."
            )
    if args.loss not in LOSSES:
        raise ValueError(f"unknown loss {args.loss!r}; choose from {', '.join(LOSSES)}.")
    return activations
