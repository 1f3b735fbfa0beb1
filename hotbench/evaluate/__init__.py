"""Evaluation beyond one attack: the per-sample worst case (worstcase), the gradient-masking
diagnosis and verdict (diagnose), named attack suites (suites) and the fast, exact suite evaluation
(fasteval)."""
