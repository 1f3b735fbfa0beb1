"""A user's own networks, kept outside hotbench: `hotbench train --arch my_nets.resnet:build`."""
