"""python -m edgelab.aws [--host H] [--port P]: run the lab AWS endpoint in the foreground."""

import argparse
import logging
import signal
import sys

from edgelab import config

from .server import LabAWS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m edgelab.aws", description=__doc__)
    parser.add_argument("--host", default=config.AWS_HOST)
    parser.add_argument("--port", type=int, default=config.AWS_PORT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        LabAWS(host=args.host, port=args.port).serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
