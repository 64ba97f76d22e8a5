"""Sub-commands of the lrface CLI (argparse only at import time)."""


def add_set_option(parser, scope: str = "") -> None:
    """``--set KEY=VALUE [KEY=VALUE ...]`` (repeatable) into ``args.overrides``: config key overrides."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help=f"override config keys{scope}, e.g. --set train.epochs=5 train.seed=6 (repeatable)",
    )
