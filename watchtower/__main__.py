"""``python -m watchtower``: the command line."""

from watchtower.cli import main

main()
