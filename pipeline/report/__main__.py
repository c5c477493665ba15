"""``python -m pipeline.report``: write the report of a sweep (default: the newest) or an
experiment, or list the sweeps of a store."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import tracking
from .build import build_report
from .leaderboard import format_leaderboard
from .selection import format_sweeps, list_sweeps


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipeline.report``: write the report of a sweep or an experiment."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.report", description=(
        "Compare the configurations of a sweep (default: the newest) or of an experiment."))
    parser.add_argument("--sweep", help="sweep id (see --list)")
    parser.add_argument("--experiment", help="MLflow experiment name (default: the dataset's name)")
    parser.add_argument("--metric", default="auroc", help="pooled metric to rank by (default: auroc)")
    parser.add_argument("--out", help="output directory (default: reports/<sweep id or experiment>)")
    parser.add_argument("--uri", help="tracking URI (default: $MLFLOW_TRACKING_URI, else the "
                        "project's mlflow.db)")
    parser.add_argument("--top", type=int, default=3, help="configurations with ROC/calibration curves")
    parser.add_argument("--list", action="store_true", help="list the sweeps in the store and exit")
    parser.add_argument("--debug", action="store_true", help="full traceback on errors")
    args = parser.parse_args(argv)
    uri = args.uri or tracking.resolve_tracking_uri()
    try:
        if not tracking.store_exists(uri):
            raise FileNotFoundError(f"no MLflow store at {uri}: run an experiment first (make run), "
                                    "or point --uri or MLFLOW_TRACKING_URI at your store")
        if args.list:
            print(format_sweeps(list_sweeps(uri)))
            return 0
        out_dir, board = build_report(uri, args.sweep, args.experiment, args.metric, args.out, args.top)
    except Exception as err:  # one readable line; the traceback only with --debug
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(format_leaderboard(board, args.metric))
    print(f"\nreport: {out_dir / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
