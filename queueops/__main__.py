"""`python -m queueops`: the queueops command."""

from queueops.cli.program import main

main()
