"""`python -m edgeml_runtime serve` (the image entrypoint; SageMaker/JumpStart containers get `serve` as argument)."""

import sys

from .server import serve


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["serve"]):
        sys.stderr.write("usage: edgeml_runtime [serve]\n")
        return 2
    return serve()


if __name__ == "__main__":
    sys.exit(main())
