"""The allocator setting every run makes (dlproj/runtime/allocator.py): the memory a training
step frees stays in the heap for the next step, instead of going back to the kernel and being
faulted in again, page by page, at the next step's first write."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from dlproj.runtime import allocator

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")

# Minor page faults per step of a loop that does what a CNN's training step does with its
# activations: several large arrays allocated, written and freed, every step the same.
STEPS = """
import resource, sys
import numpy as np
from dlproj.runtime import allocator
assert allocator.keep_freed_memory() is (sys.argv[1] == "1")
size, steps = int(sys.argv[2]), int(sys.argv[3])
def step():
    arrays = [np.ones(size, np.float32) for _ in range(4)]
    return sum(float(a[-1]) for a in arrays)
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(steps):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / steps)
"""


def _faults_per_step(keep: str, floats: int) -> float:
    """With DLPROJ_KEEP_MEMORY=`keep` (1: as a run has it; 0: the C library's own way)."""
    steps = 20 if floats < 10_000_000 else 3
    done = subprocess.run([sys.executable, "-c", STEPS, keep, str(floats), str(steps)],
                          env={**os.environ, allocator.KNOB: keep}, capture_output=True,
                          text=True, timeout=60, check=True)
    return float(done.stdout)


@glibc
@pytest.mark.parametrize("floats", [100_000, 1_605_632, 25_088_000],
                         ids=["400KB", "6.4MB: the wide CNN's activations",
                              "100MB: its activations at the evaluation's batch of 1,000"])
def test_freed_memory_is_reused_without_page_faults(floats):
    assert _faults_per_step("1", floats) < 2
    # By its own thresholds glibc gives some or all of it back and faults it in again: what the
    # setting is for.
    assert _faults_per_step("0", floats) > 100


@glibc
def test_the_c_library_takes_the_setting(monkeypatch):
    monkeypatch.delenv(allocator.KNOB, raising=False)
    allocator.keep_freed_memory.cache_clear()
    assert allocator.keep_freed_memory() is True


def test_every_run_sets_it(dlproj_run, monkeypatch):
    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(1) or True)
    run = dlproj_run(["experiment=xor", "train.epochs=2"])
    assert run.proc.returncode == 0, run.proc.stderr
    assert calls == [1]
