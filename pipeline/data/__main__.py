"""``python -m pipeline.data {download,info} ...``: fetch the UCI tables (``make data``) or
print a dataset's counts (never its values)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import DatasetError, DownloadError
from . import load_dataset
from .downloads import SOURCES, download
from .options import DATA_DIR_ENV, data_dir, dataset_config

log = logging.getLogger("pipeline.data")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.data", description=__doc__.split("\n")[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("download", help="fetch UCI datasets into the data directory")
    fetch.add_argument("names", nargs="*", help=f"datasets (default: all of {', '.join(SOURCES)})")
    fetch.add_argument("--data-dir", help=f"target directory (default ${DATA_DIR_ENV} or data/raw)")
    fetch.add_argument("--mirror", help="base URL serving the reference copies by file name")
    fetch.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    fetch.add_argument("--force", action="store_true", help="re-fetch existing files")
    info = commands.add_parser("info", help="load a dataset config and print counts (no values)")
    info.add_argument("name", help="config name in conf/dataset/")
    info.add_argument("--data-dir", help="data directory override")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "download":
            directory = Path(args.data_dir) if args.data_dir else data_dir()
            download(args.names, directory, args.mirror, args.timeout, args.force)
        else:
            overrides = {"data_dir": args.data_dir} if args.data_dir else {}
            dataset = load_dataset(dataset_config(args.name, **overrides))
            for key, value in dataset.summary().items():
                log.info("%-12s %s", key, value)
    except (DatasetError, DownloadError) as err:
        if args.debug:
            raise
        log.error("error: %s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
