"""One module per CLI command: ``register(subparsers)`` sets ``handler`` on its parser."""


def add_input_shape_arg(p) -> None:
    """The one --input-shape option (parsed by engines.models.shapes) every command that opens a model has."""
    p.add_argument("--input-shape", action="append", default=None, metavar="NAME=1x128",
                   help="shape of an input whose dims the model leaves open (TorchScript records none; "
                        "dynamic sequence or image sizes), e.g. input_ids=1x128 or x=1x3x224x224:float32; "
                        "repeat or comma-separate for several inputs (default: from --data)")


def add_target_args(p, files: str, *, optional: bool = False) -> None:
    """The VARIANT_OR_MODEL positional and the --model/--workspace options that locate a variant."""
    p.add_argument("target", nargs="?" if optional else None, metavar="VARIANT_OR_MODEL",
                   help=f"{files}, or a variant id/name (with --model or --workspace)")
    p.add_argument("--model", help="the source model whose workspace holds the variant")
    p.add_argument("--workspace", help="workspace folder holding the variant (instead of --model)")
