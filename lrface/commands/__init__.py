"""Sub-commands of the lrface CLI (argparse only at import time)."""
