"""`python -m emulator start|env ...`: the same command line as `edgectl emulator`."""

import sys

from emulator.cli import main

if __name__ == "__main__":
    sys.exit(main())
