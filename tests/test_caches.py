"""The command line's caches: JAX's compiled programs and the ``jax.grad`` witness's results.

A kept result must be the computed one bit for bit, be found again only for the very same case,
never stand in for a case it was not computed for, and give way to a computation wherever it is
missing, unreadable, too big, or made where the work may not run on the CPU.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import mutants
import numpy as np
import pytest

import manual
from reference import autodiff, running, witness_cache
from reference.conventions import Conventions
from reference.network import SMALL_DEVICE_VARIABLE
from reference.scope import Scope
from reference.spec import Spec
from reference.verify import verify
from reports import cache

SPEC = Spec((3, 4, 2), ("tanh", "sigmoid"), "softmax_cross_entropy")


def case(seed: int = 0, n: int = 5, spec: Spec = SPEC):
    rng = np.random.default_rng(seed)
    params = [
        (rng.normal(size=(a, b)), rng.normal(size=b))
        for a, b in zip(spec.widths[:-1], spec.widths[1:], strict=True)
    ]
    X = rng.normal(size=(n, spec.widths[0]))
    Y = rng.dirichlet(np.ones(spec.widths[-1]), size=n)
    return params, X, Y, spec


def assert_identical(one: autodiff.AutodiffPass, two: autodiff.AutodiffPass) -> None:
    """The same risk, and every array of every layer with the same dtype and bits."""
    assert one.risk == two.risk
    for name in ("grads", "Z", "A", "g_prime", "dZ", "dA"):
        first, second = getattr(one, name), getattr(two, name)
        if name == "grads":
            first = [a for pair in first for a in pair]
            second = [a for pair in second for a in pair]
        assert len(first) == len(second)
        for a, b in zip(first, second, strict=True):
            if a is None:
                assert b is None
            else:
                assert a.dtype == b.dtype
                np.testing.assert_array_equal(a, b)


@pytest.fixture
def kept(tmp_path, monkeypatch):
    """The witness's results kept in a fresh directory for this test only."""
    monkeypatch.setattr(witness_cache, "_directory", [None])
    monkeypatch.setattr(witness_cache, "_checked", set())
    monkeypatch.delenv(SMALL_DEVICE_VARIABLE, raising=False)
    witness_cache.use(tmp_path)
    return tmp_path


def entries(directory) -> list:
    return sorted(directory.rglob("*.pass"))


def computing_forbidden(monkeypatch) -> None:
    def refuse(*args):
        raise AssertionError("the jax.grad pass was computed")

    monkeypatch.setattr(autodiff, "_run_padded", refuse)


def test_a_kept_pass_is_the_computed_one_bit_for_bit_and_is_not_computed_again(kept, monkeypatch):
    computed = autodiff.autodiff_backward(*case())
    assert len(entries(kept)) == 1
    computing_forbidden(monkeypatch)
    assert_identical(autodiff.autodiff_backward(*case()), computed)


def test_a_float32_case_is_kept_apart_from_the_same_case_in_float64(kept, monkeypatch):
    params, X, Y, spec = case()
    autodiff.autodiff_backward(params, X, Y, spec)
    low = [(W.astype(np.float32), b.astype(np.float32)) for W, b in params]
    low_X, low_Y = X.astype(np.float32), Y.astype(np.float32)
    computed = autodiff.autodiff_backward(low, low_X, low_Y, spec)
    assert computed.grads[0][0].dtype == np.float32
    computing_forbidden(monkeypatch)
    assert_identical(autodiff.autodiff_backward(low, low_X, low_Y, spec), computed)


def test_the_environment_jax_reads_makes_another_folder(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    witness_cache._environment.cache_clear()
    plain = witness_cache._environment()
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=true")
    witness_cache._environment.cache_clear()
    assert witness_cache._environment() != plain
    monkeypatch.undo()
    witness_cache._environment.cache_clear()
    assert witness_cache._environment() == plain


def test_one_bit_of_one_weight_makes_another_case(kept, monkeypatch):
    params, X, Y, spec = case()
    autodiff.autodiff_backward(params, X, Y, spec)
    W = params[1][0].copy()
    W.view(np.uint64)[0, 0] ^= 1  # the last bit of one entry
    params[1] = (W, params[1][1])
    computing_forbidden(monkeypatch)
    with pytest.raises(AssertionError, match="computed"):
        autodiff.autodiff_backward(params, X, Y, spec)


def test_another_architecture_with_the_same_bytes_is_another_case(kept, monkeypatch):
    params, X, Y, spec = case()
    autodiff.autodiff_backward(params, X, Y, spec)
    other = Spec(spec.widths, ("tanh", "tanh"), spec.loss)
    computing_forbidden(monkeypatch)
    with pytest.raises(AssertionError, match="computed"):
        autodiff.autodiff_backward(params, X, Y, other)


def test_an_unreadable_entry_is_computed_again(kept):
    computed = autodiff.autodiff_backward(*case())
    (entry,) = entries(kept)
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    assert_identical(autodiff.autodiff_backward(*case()), computed)
    assert witness_cache.load(witness_cache.key(*case())) is not None  # written whole again


def test_a_changed_byte_inside_an_entry_is_not_believed(kept):
    """The entry's checksum: a flipped byte in the stored gradient is a missing entry."""
    computed = autodiff.autodiff_backward(*case())
    (entry,) = entries(kept)
    data = bytearray(entry.read_bytes())
    stored = computed.grads[0][0].tobytes()
    at = bytes(data).index(stored)
    data[at] ^= 0x40
    entry.write_bytes(bytes(data))
    assert witness_cache.load(witness_cache.key(*case())) is None
    assert_identical(autodiff.autodiff_backward(*case()), computed)


@pytest.mark.parametrize("change", ["one array missing", "another shape", "another dtype"])
def test_an_entry_that_does_not_fit_the_case_is_computed_again(kept, change):
    computed = autodiff.autodiff_backward(*case())
    (entry,) = entries(kept)
    arrays = witness_cache._unpack(entry.read_bytes())
    if change == "one array missing":
        del arrays["dZ1"]
    elif change == "another shape":
        arrays["dW2"] = arrays["dW2"].T
    else:
        arrays["A0"] = arrays["A0"].astype(np.float32)
    entry.write_bytes(witness_cache._pack(arrays))
    assert_identical(autodiff.autodiff_backward(*case()), computed)


def test_nothing_is_kept_when_it_is_off_or_the_work_may_leave_the_cpu(kept, monkeypatch):
    monkeypatch.setenv(SMALL_DEVICE_VARIABLE, "default")
    autodiff.autodiff_backward(*case())
    assert entries(kept) == []
    monkeypatch.delenv(SMALL_DEVICE_VARIABLE)
    witness_cache.use(None)
    autodiff.autodiff_backward(*case())
    assert entries(kept) == []


def test_a_directory_that_cannot_be_written_costs_nothing_but_the_keeping(kept, monkeypatch):
    computed = autodiff.autodiff_backward(*case(1))
    blocked = kept / "a-file"
    blocked.write_text("")
    witness_cache.use(blocked)  # its folder cannot be made
    assert_identical(autodiff.autodiff_backward(*case(1)), computed)
    witness_cache.use(kept)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(witness_cache, "_pack", full)
    assert np.isfinite(autodiff.autodiff_backward(*case(2)).risk)
    assert witness_cache.load(witness_cache.key(*case(2))) is None
    left = sorted(path.suffix for path in kept.rglob("*") if path.is_file())
    assert left == ["", ".pass"]  # a-file and case 1's entry: no partial file


def test_networks_beyond_the_harness_shapes_are_not_kept(kept):
    wide = Spec((3, 70, 2), ("tanh", "identity"), "square")
    autodiff.autodiff_backward(*case(spec=wide))
    assert entries(kept) == []


def test_an_entry_past_the_size_limit_is_not_written(kept, monkeypatch):
    monkeypatch.setattr(witness_cache, "ENTRY_BYTES", 100)
    autodiff.autodiff_backward(*case())
    assert entries(kept) == []


def test_past_the_entry_limit_the_older_half_goes(kept, monkeypatch):
    monkeypatch.setattr(witness_cache, "ENTRIES", 4)
    for seed in range(5):
        autodiff.autodiff_backward(*case(seed))
    folder = entries(kept)[0].parent
    for age, entry in enumerate(sorted(entries(kept))):
        os.utime(entry, (1_000 + age, 1_000 + age))
    oldest = sorted(entries(kept), key=lambda e: e.stat().st_mtime)[:3]
    monkeypatch.setattr(witness_cache, "_checked", set())
    autodiff.autodiff_backward(*case(99))
    left = entries(kept)
    assert len(left) == 3  # 5 were there: the 3 oldest went, then the new one was written
    assert not set(oldest) & set(left)
    assert all(entry.parent == folder for entry in left)


@pytest.mark.parametrize("bug", [None, "forgot_g_prime", "bias_mean"])
def test_a_verdict_from_kept_results_is_the_computed_verdict(kept, monkeypatch, bug):
    implementation = manual.gradients if bug is None else mutants.buggy(bug)
    first = verify(implementation, *case())
    assert first.ok == (bug is None)
    computing_forbidden(monkeypatch)
    second = verify(implementation, *case())
    assert (second.ok, second.kind) == (first.ok, first.kind)
    assert second.message() == first.message()
    for one, two in zip(first.bounds, second.bounds, strict=True):
        for a, b in zip(one, two, strict=True):
            np.testing.assert_array_equal(a, b)


def check(directory, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, cache.CACHE_VARIABLE: str(directory)}
    command = [sys.executable, "-X", "importtime", "-m", "reports.cli", "check"]
    return subprocess.run(
        [*command, "manual:gradients", "--examples", "20", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def imported_jax(done: subprocess.CompletedProcess) -> bool:
    return any(line.rstrip().endswith("| jax") for line in done.stderr.splitlines())


def test_a_second_check_reads_every_pass_back_and_never_imports_jax(tmp_path):
    first = check(tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert imported_jax(first)
    assert any((tmp_path / "jax").iterdir())  # JAX's compiled programs
    kept = entries(tmp_path / "jax-grad")
    assert len(kept) == 20
    second = check(tmp_path)
    assert second.returncode == 0
    assert second.stdout == first.stdout
    assert not imported_jax(second)
    assert entries(tmp_path / "jax-grad") == kept


def test_two_jobs_read_the_serial_runs_passes_back(tmp_path):
    """The workers find the cases a serial run kept (they judge a few past the last, which
    they compute and keep)."""
    first = check(tmp_path)
    second = check(tmp_path, "--jobs", "2")
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stdout.splitlines()[1:] == first.stdout.splitlines()[1:]


def test_a_worker_keeps_results_where_its_parent_does(tmp_path, monkeypatch):
    monkeypatch.setattr(witness_cache, "_directory", [None])
    plan = running.Plan(
        manual.gradients, Scope(), Conventions(), np.dtype(np.float64), None, "standard"
    )
    running._start_worker(plan, {}, tmp_path)
    assert witness_cache.directory() == tmp_path


def test_off_keeps_nothing(tmp_path):
    env = {**os.environ, cache.CACHE_VARIABLE: "off", "XDG_CACHE_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "reports.cli", "check", "manual:gradients", "--examples", "3"],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0
    assert list(tmp_path.iterdir()) == []


def test_the_cache_directory_follows_the_variable_and_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_VARIABLE, str(tmp_path / "here"))
    assert cache.cache_directory() == tmp_path / "here"
    monkeypatch.delenv(cache.CACHE_VARIABLE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_directory() == tmp_path / "xdg" / "backprop-verify"


def test_grading_reads_no_kept_results_back(tmp_path):
    """A submission runs in the grading worker: an entry it wrote must not stand in for the
    witness when the next one is graded, so grading keeps JAX's programs alone."""
    submission = pathlib.Path(__file__).resolve().parent / "classroom" / "correct_lists.py"
    env = {**os.environ, cache.CACHE_VARIABLE: str(tmp_path / "cache")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "reports.cli",
            "grade",
            str(submission),
            "--out",
            str(tmp_path / "out"),
            "--quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert any((tmp_path / "cache" / "jax").iterdir())
    assert not (tmp_path / "cache" / "jax-grad").exists()
