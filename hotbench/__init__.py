"""hotbench: does a high-temperature output activation make a classifier robust, or only mask its
gradients?"""

__version__ = "0.1.0"
