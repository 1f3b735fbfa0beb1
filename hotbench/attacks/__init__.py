"""Attacks: what each attack is (spec), the table of every attack (catalog), hotbench's departures
from torchattacks (patched), attacks composed of others (composite), the evaluation of one
attack config on one model (engine), the model an attack sees, which keeps each sample's first
success (tracking), a targeted attack's targets (targeting) and the per-sample result (outcome).

This package's `__init__` imports nothing: `hotbench.config` validates attack names through the leaf
`attacks.spec`, whose registry imports the catalog on its first lookup.
"""
