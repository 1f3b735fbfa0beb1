"""The zoo: defenses that the literature knows to mask gradients, each as a user module loaded
through `--arch examples.zoo.MODULE:CALLABLE`, with honest controls. presets/zoo.yaml declares each
entry with its expected verdict on both axes; docs/zoo.md explains each with its paper."""
