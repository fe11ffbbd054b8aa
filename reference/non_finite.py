"""Where NaN or infinity in a gradient comes from, where the true gradient is finite."""

from __future__ import annotations

from typing import Any

import numpy as np

from reference.diagnose import Diagnosis

__all__ = ["explain_non_finite"]


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
