"""`make run` until the Hydra runner lands: the default MLP on built-in breast cancer data."""

from sklearn.datasets import load_breast_cancer
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pipeline.estimators import NeuralNetClassifier


def main():
    X, y = load_breast_cancer(return_X_y=True)
    y = 1 - y  # scikit-learn codes malignant as 0; clinically the disease is the positive class
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    model = make_pipeline(StandardScaler(), NeuralNetClassifier((64, 32), l2=1e-3, max_epochs=100,
                                                                random_state=0))
    model.fit(X_train, y_train)
    p = model.predict_proba(X_test)[:, 1]
    print(f"breast cancer, MLP (64, 32): test AUROC {roc_auc_score(y_test, p):.3f}, "
          f"accuracy {accuracy_score(y_test, p > 0.5):.3f}")


if __name__ == "__main__":
    main()
