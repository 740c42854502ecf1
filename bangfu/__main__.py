"""``python -m bangfu`` is the ``bangfu`` command."""

from bangfu.cli import main

main()
