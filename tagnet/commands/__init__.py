"""Subcommands of the ``tagnet`` command; one module per subcommand (see :mod:`tagnet.cli`)."""
