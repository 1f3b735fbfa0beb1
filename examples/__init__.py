"""hotbench's worked examples. A package so that `--arch examples.zoo.MODULE:CALLABLE` imports
from the repository root (hotbench puts the current directory on the import path)."""
