"""One module per CLI command: ``register(subparsers)`` sets ``handler`` on its parser."""


def add_target_args(p, files: str, *, optional: bool = False) -> None:
    """The VARIANT_OR_MODEL positional and the --model/--workspace options that locate a variant."""
    p.add_argument("target", nargs="?" if optional else None, metavar="VARIANT_OR_MODEL",
                   help=f"{files}, or a variant id/name (with --model or --workspace)")
    p.add_argument("--model", help="the source model whose workspace holds the variant")
    p.add_argument("--workspace", help="workspace folder holding the variant (instead of --model)")
