"""biotab: an experiment pipeline for biomedical tabular data."""

from pathlib import Path

#: The checkout's root: conf/, data/raw/, mlflow.db and mlartifacts/ live here, whatever
#: the working directory (Hydra jobs may run elsewhere).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
