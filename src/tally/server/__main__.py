"""``python -m tally.server [--host H] [--port P]``: the same server as ``tally serve``."""

from __future__ import annotations

import argparse

from tally.config import load_settings
from tally.server.runner import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tally.server", description=__doc__)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    arguments = parser.parse_args()
    serve(load_settings(), arguments.host, arguments.port)


if __name__ == "__main__":
    main()
