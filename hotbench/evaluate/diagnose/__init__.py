"""Gradient-masking diagnostics and the verdict per (model, eval temperature), each with its
evidence. A verdict has two axes (rule.py): robustness (robust, not robust, incomplete) and masking
(detected, not detected, not measured).

The package, one job per module:
- thresholds.py: every threshold, with the reason for its value;
- measurements.py: the model-side measurements (gradient health, output saturation), stored with
  the run;
- spec.py: what a check is (CheckSpec), what it reads (Evidence), the CHECKS registry;
- checks/: the checks, one registration each (model-side, attack comparisons, probes, the
  undefended reference); select.py picks the results they compare by AttackSpec's flags;
- reference.py: the undefended reference a model is compared with;
- rule.py: the verdict rule; commands.py: the commands that complete what is missing;
- run.py: one model end to end (probes, measurements, checks, rule, storage) and the report's
  read-only pass.
Presentation (tables, evidence lines, the JSON record) is in hotbench.reports.verdicts.
"""

from .commands import Where
from .measurements import (
    MEASUREMENTS_SCHEMA,
    eval_temps,
    gradient_health,
    measure,
    measurement_size,
    measurements_path,
    saturation,
    store_measurements,
    stored_measurement,
)
from .reference import REFERENCE_EVAL_TEMP, load_reference, reference_config
from .rule import MASKING, ROBUSTNESS, Verdict, decide
from .run import (
    DIAGNOSIS_SCHEMA,
    budget_of,
    current,
    diagnose_run,
    diagnosis_path,
    evidence_of,
    judge,
    report_verdicts,
    save,
)
from .select import reference_budget
from .spec import (
    CHECK_STATES,
    CHECKS,
    Check,
    CheckSpec,
    Evidence,
    Finding,
    Probe,
    Reference,
    check,
    required_checks,
    run_checks,
)
from .thresholds import THRESHOLDS, Thresholds

__all__ = [
    "CHECKS",
    "CHECK_STATES",
    "DIAGNOSIS_SCHEMA",
    "MASKING",
    "MEASUREMENTS_SCHEMA",
    "REFERENCE_EVAL_TEMP",
    "ROBUSTNESS",
    "THRESHOLDS",
    "Check",
    "CheckSpec",
    "Evidence",
    "Finding",
    "Probe",
    "Reference",
    "Thresholds",
    "Verdict",
    "Where",
    "budget_of",
    "check",
    "current",
    "decide",
    "diagnose_run",
    "diagnosis_path",
    "eval_temps",
    "evidence_of",
    "judge",
    "gradient_health",
    "load_reference",
    "measure",
    "measurement_size",
    "measurements_path",
    "reference_budget",
    "reference_config",
    "report_verdicts",
    "required_checks",
    "run_checks",
    "saturation",
    "save",
    "store_measurements",
    "stored_measurement",
]
