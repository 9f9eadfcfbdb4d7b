"""The ``edgekit`` command line. Each sub-command is one module in this package with a ``register``."""
