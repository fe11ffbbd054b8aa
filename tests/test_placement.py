"""Where the witnesses compute: small work on the CPU when JAX's default backend is an
accelerator, large work on the default device.

No accelerator is needed: the test runs JAX with two CPU devices, makes the second the default
and reports an accelerator as the default backend, then asks each compiled ``jax.grad`` pass
where its results were placed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SCRIPT = """
import json
import jax
import numpy as np

jax.config.update("jax_default_device", jax.devices("cpu")[1])
jax.default_backend = lambda: "gpu"  # as on a machine whose default backend is a GPU

import reference.autodiff as autodiff
from reference import Spec

placed = []
real = autodiff._compiled


def spy(stacked=False):
    function = real(stacked)

    def call(*args):
        out = function(*args)
        placed.append(sorted({d.id for leaf in jax.tree.leaves(out) for d in leaf.devices()}))
        return out

    return call


autodiff._compiled = spy
small = Spec((2, 3, 1), ("tanh", "identity"), "square")  # the harness's shapes
large = Spec((2, 80, 1), ("tanh", "identity"), "square")  # wider than any of them
for spec in (small, large):
    params = [(np.full(w, 0.1), np.zeros(b)) for w, b in spec.shapes()]
    autodiff.autodiff_gradients(params, np.ones((4, 2)), np.zeros((4, 1)), spec)
print(json.dumps(placed))
"""


def placements(**environment: str) -> list[list[int]]:
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        **environment,
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({}, [[0], [1]]),  # small on the CPU (device 0), large on the default (device 1)
        ({"BACKPROP_VERIFY_SMALL_DEVICE": "default"}, [[1], [1]]),  # the override: both default
    ],
)
def test_small_cases_run_on_the_cpu_when_an_accelerator_is_the_default(setting, expected):
    assert placements(**setting) == expected
