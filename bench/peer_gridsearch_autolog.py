"""The scikit-learn route to a logged sweep: GridSearchCV over an MLPClassifier pipeline with
``mlflow.sklearn.autolog``. The peer of ``bench_sweep_vs_sklearn.py`` (which runs it in a
fresh process, with a fresh store, and times it whole, imports included).

    python bench/peer_gridsearch_autolog.py --uri sqlite:///DIR/mlflow.db --jobs 2

The same grid, folds, epochs and batch size as biotab's sweep in that bench: breast cancer,
StandardScaler fitted inside each fold, MLP hidden (32,) or (64, 32) x relu or tanh x four
penalties, stratified 5-fold (seed 0), adam lr 1e-3, batch 32, exactly 200 epochs (tol=0,
no early stopping), AUROC; then the refit of the best on all rows (GridSearchCV's
default). scikit-learn's ``alpha`` is divided by the batch size in its loss, so
alpha = l2 x 32 is the same penalty as biotab's l2 on the mean loss.
"""

import argparse
import os
import warnings

L2_VALUES = (1e-4, 1e-3, 1e-2, 1e-1)
HIDDEN = ((32,), (64, 32))
ACTIVATIONS = ("relu", "tanh")
BATCH, EPOCHS, FOLDS, LR = 32, 200, 5, 1e-3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True, help="a fresh MLflow tracking URI")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow
    from sklearn.datasets import load_breast_cancer
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    y = 1 - y  # malignant = 1, as biotab's breast_cancer
    mlflow.set_tracking_uri(args.uri)
    mlflow.set_experiment("breast_cancer_gridsearch")
    mlflow.sklearn.autolog(max_tuning_runs=None, silent=True)
    model = Pipeline([("scale", StandardScaler()), ("mlp", MLPClassifier(
        solver="adam", learning_rate_init=LR, batch_size=BATCH, max_iter=args.epochs, tol=0.0,
        n_iter_no_change=10**9, random_state=0))])
    grid = {"mlp__hidden_layer_sizes": list(HIDDEN), "mlp__activation": list(ACTIVATIONS),
            "mlp__alpha": [l2 * BATCH for l2 in L2_VALUES]}
    search = GridSearchCV(model, grid, scoring="roc_auc", n_jobs=args.jobs,
                          cv=StratifiedKFold(FOLDS, shuffle=True, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with mlflow.start_run(run_name="gridsearch"):
            search.fit(X, y)
    runs = mlflow.search_runs(experiment_names=["breast_cancer_gridsearch"])
    print(f"configurations {len(search.cv_results_['params'])} runs {len(runs)} "
          f"best AUROC {search.best_score_:.4f}")


if __name__ == "__main__":
    main()
