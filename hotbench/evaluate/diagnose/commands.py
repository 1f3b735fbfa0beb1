"""The commands that complete an "incomplete" verdict or a check that was not measured: each names
the model, its eval temperature, the budget and the sample count, so that it can be pasted."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Where:
    run_id: str
    eval_temp: float
    eps: float | None = None  # the verdict's Linf budget
    n_samples: int | None = None
    n_test: int | None = None
    data_problem: str | None = None  # why the model-side checks could not be measured

    def attack_cmd(self, what: str = "--suite adaptive") -> str:
        eps = f" --eps {self.eps:g}" if self.eps is not None else ""
        n = f" --n-samples {self.n_samples}" if self.n_samples else ""
        return f"hotbench attack --run {self.run_id} --eval-temp {self.eval_temp:g} {what}{eps}{n}"

    def paper_cmd(self, plain: bool = False) -> str:
        """The paper's attacks; `plain` on a randomized model: without EOT, as their authors run
        them."""
        return self.attack_cmd("--suite paper --eot 1" if plain else "--suite paper")

    def eot_cmd(self) -> str:
        """On a randomized model every attack of the suite averages its queries over the model's
        draws (EOT, the default there)."""
        return self.attack_cmd("--suite adaptive")

    def transfer_cmd(self) -> str:
        return self.attack_cmd("--method transfer")

    def logits_cmd(self) -> str:
        return self.attack_cmd("--method pgd --on logits")

    def square_cmd(self, queries: int) -> str:
        return self.attack_cmd(f"--method square --param n_queries={queries}")

    def diagnose_cmd(self) -> str:
        """diagnose runs every missing probe (PGD at eps 1.0 and with a second seed, Square,
        transfer, the undefended reference) and measures the gradients."""
        eps = f" --eps {self.eps:g}" if self.eps is not None else ""
        data = " --data-dir DIR" if self.data_problem else ""
        return f"hotbench diagnose --run {self.run_id} --eval-temp {self.eval_temp:g}{eps}{data}"

    def more_samples_cmd(self, n: int) -> str:
        more = min(4 * n, self.n_test) if self.n_test else 4 * n
        return (
            f"hotbench attack --run {self.run_id} --eval-temp {self.eval_temp:g} --complete"
            f" --n-samples {more}"
        )
