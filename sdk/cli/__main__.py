"""``python -m runplane.cli``: the same as the ``runplane`` command."""

from runplane.cli import main

main()
