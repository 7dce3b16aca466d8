"""One module per CLI command: ``register(subparsers)`` sets ``handler`` on its parser."""
