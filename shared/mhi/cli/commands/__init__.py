"""One module per command group; each exposes `register(subparsers)` and is found automatically."""
