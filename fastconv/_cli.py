"""Command line entry point, installed as the ``fastconv`` console script.

    fastconv demo      configuration, a check against the definition, a timing table
    fastconv config    the build and runtime configuration (show_config)
    fastconv --version
"""

import argparse
import sys


def _build_parser():
    import fastconv

    parser = argparse.ArgumentParser(
        prog="fastconv",
        description="Fast N-dimensional convolution on the CPU.",
    )
    parser.add_argument("--version", action="version",
                        version=f"fastconv {fastconv.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("demo", help="show the configuration, check a result "
                   "against SciPy and time a few cases (about 10 s)")
    sub.add_parser("config", help="show the build and runtime configuration")
    return parser


def main(argv=None):
    """Run the ``fastconv`` command; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from fastconv._demo import run_demo
        return 0 if run_demo() else 1
    if args.command == "config":
        import fastconv
        fastconv.show_config()
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
