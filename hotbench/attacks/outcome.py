"""The per-sample result of one attack config on one model (AttackOutcome), and the aggregate
numbers that derive from it: accuracies over samples, or over samples and draws on a randomized
model (attacks.randomized)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import AttackConfig


@dataclass
class AttackOutcome:
    """Per-sample results of one attack config on one model; the aggregate numbers derive from
    them."""

    config: AttackConfig
    indices: np.ndarray  # test-set indices of the evaluated samples
    labels: np.ndarray
    clean_pred: np.ndarray
    adv_pred: np.ndarray  # = clean_pred where the sample was not attacked (clean-wrong)
    linf: np.ndarray  # perturbation size per sample (0 where the attack returned the clean input)
    l2: np.ndarray
    time_s: float
    n_invalid: int = 0  # adversarial points outside the threat model, discarded
    attacked: np.ndarray | None = None  # which samples were attacked (None: all clean-correct ones)
    target: np.ndarray | None = None  # targeted attacks: the target class per sample (-1: none)
    # A randomized model (attacks.randomized): correct per sample and draw, [n, draws], clean and
    # at the chosen point; clean_pred / adv_pred are then draw 0's classes. None: deterministic.
    clean_draws: np.ndarray | None = None
    adv_draws: np.ndarray | None = None
    randomness: dict[str, Any] | None = None  # what detection found, and the eot and draws used

    @property
    def clean_correct(self) -> np.ndarray:
        return self.clean_pred == self.labels

    @property
    def robust(self) -> np.ndarray:
        return self.adv_pred == self.labels

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    def metrics(self) -> dict[str, float | int]:
        if self.adv_draws is not None and self.clean_draws is not None:
            return self._metrics_over_draws(self.clean_draws, self.adv_draws)
        correct = self.clean_correct
        broken = correct & ~self.robust
        n_correct = int(correct.sum())
        return {
            "n_samples": self.n,
            "n_clean_correct": n_correct,
            "clean_acc": float(correct.mean()) if self.n else float("nan"),
            "adv_acc": float(self.robust.mean()) if self.n else float("nan"),
            "success_rate": float(broken.sum() / n_correct) if n_correct else 0.0,
            "mean_linf": float(self.linf[broken].mean()) if broken.any() else None,
            "mean_l2": float(self.l2[broken].mean()) if broken.any() else None,
            "median_l2": float(np.median(self.l2[broken])) if broken.any() else None,
            "n_invalid": self.n_invalid,
            **(
                {
                    "targeted_success": (
                        float((correct & (self.adv_pred == self.target)).sum() / n_correct)
                        if n_correct
                        else 0.0
                    )
                }
                if self.target is not None
                else {}
            ),
        }

    def _metrics_over_draws(self, clean: np.ndarray, adv: np.ndarray) -> dict[str, float | int]:
        """Expected accuracies over samples and draws; a sample counts as broken (for the
        perturbation sizes) where its chosen point is not the clean input."""
        moved = self.linf > 0
        n_cells = clean.size
        return {
            "n_samples": self.n,
            "draws": int(clean.shape[1]),
            "n_clean_correct": int(clean.any(1).sum()),  # correct on some draw: attacked
            "clean_acc": float(clean.sum() / n_cells) if n_cells else float("nan"),
            "adv_acc": float(adv.sum() / n_cells) if n_cells else float("nan"),
            "success_rate": float((clean & ~adv).sum() / clean.sum()) if clean.any() else 0.0,
            "mean_linf": float(self.linf[moved].mean()) if moved.any() else None,
            "mean_l2": float(self.l2[moved].mean()) if moved.any() else None,
            "median_l2": float(np.median(self.l2[moved])) if moved.any() else None,
            "n_invalid": self.n_invalid,
            # targeted: on draw 0 (the classes stored per sample)
            **(
                {
                    "targeted_success": float(
                        (first & (self.adv_pred == self.target)).sum() / first.sum()
                    )
                    if (first := self.clean_correct).any()
                    else 0.0
                }
                if self.target is not None
                else {}
            ),
        }
