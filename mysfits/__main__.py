"""`python -m mysfits <command>`: one entry point for the local tooling."""

import sys

from mysfits.cli import main

sys.exit(main(sys.argv[1:]))
