"""`python -m hotbench.cli`: the same command line as the `hotbench` script."""

from hotbench.cli import main

if __name__ == "__main__":
    main()
