"""A Ctrl-C whose KeyboardInterrupt a library swallows still stops the computation.

Seen once in CI: `hotbench train`, sent SIGINT mid-training, ran on and exited 0, with nothing on
stderr. Python raises the KeyboardInterrupt wherever the main thread is; code that clears errors
there loses it. The `hotbench` process's handler (hotbench.interrupts) remembers the interrupt, and
the training and attack loops raise it again between batches. Here the swallowing is done on
purpose: SIGINT is raised inside a `try/except KeyboardInterrupt: pass`, as such a library would."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from hotbench import interrupts
from hotbench.config import AttackConfig, TrainConfig
from hotbench.context import Context
from hotbench.units import ensure_attacked, ensure_trained

from .conftest import CPU, TANH50


@pytest.fixture
def hotbench_handler() -> Iterator[None]:
    """SIGINT handled as in the `hotbench` process, and the caller's handler back afterwards."""
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupts.install()
    try:
        yield
    finally:
        interrupts.handled()
        signal.signal(signal.SIGINT, previous)


def swallowed_ctrl_c() -> None:
    try:
        signal.raise_signal(signal.SIGINT)
    except KeyboardInterrupt:
        pass  # what a library that clears errors does with it


def test_a_swallowed_ctrl_c_stops_training_and_stores_nothing(hotbench_handler, ws):
    swallowed_ctrl_c()
    cfg = TrainConfig(dataset="digits", act="tanh", temp=50, epochs=2)
    with pytest.raises(KeyboardInterrupt):
        ensure_trained(Context(ws, CPU), cfg)
    assert not ws.has_run(cfg.run_id)


def test_a_swallowed_ctrl_c_stops_an_attack_and_stores_nothing(hotbench_handler, trained_ws):
    record = trained_ws.load_record(TANH50.run_id)
    cfg = AttackConfig(method="pgd", eps=0.3, steps=5, n_samples=50, seed=0)
    swallowed_ctrl_c()
    with pytest.raises(KeyboardInterrupt):
        ensure_attacked(Context(trained_ws, CPU), record, cfg)
    assert trained_ws.stored_result(record, cfg.attack_id(record.run_id)) is None


def test_without_the_hotbench_handler_nothing_is_remembered(ws):
    """A notebook or a test keeps its own handler: an interrupt it swallowed stays swallowed."""
    assert signal.getsignal(signal.SIGINT) is not interrupts._on_sigint
    interrupts.check()  # nothing pending: no KeyboardInterrupt
