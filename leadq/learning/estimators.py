"""Predictive models with the scikit-learn contract, calibrated, with exact reasons.

Each model returns a raw score in log-odds and per-feature contributions
that add up to it with a bias: exact linear terms for the logistic model,
LightGBM's SHAP values (`pred_contrib=True`) for the trees. The ensemble
uses both, each scaled by its blend weight. The calibrator then maps the raw
score to a probability.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from leadq.learning.metrics import clip_probabilities

MISSING_CATEGORY = "(missing)"
# LightGBM settings tried by the inner cross-validation of each fit.
BOOSTED_GRID = (
    {"n_estimators": 300, "learning_rate": 0.03, "num_leaves": 15, "min_child_samples": 20},
    {"n_estimators": 600, "learning_rate": 0.02, "num_leaves": 7, "min_child_samples": 20, "reg_lambda": 5.0},
    {"n_estimators": 1000, "learning_rate": 0.02, "num_leaves": 7, "min_child_samples": 20, "reg_lambda": 5.0,
     "colsample_bytree": 0.9},
)  # fmt: skip
# The one setting of quick runs (`leadq train --quick`, the fast tests).
QUICK_SETTING = {"n_estimators": 100, "learning_rate": 0.06, "num_leaves": 15, "min_child_samples": 20}
BOOSTED_FIXED = {
    "subsample": 0.8,
    "subsample_freq": 1,
    "cat_smooth": 10.0,
    "min_data_per_group": 30,
    "cat_l2": 10.0,
    "max_cat_to_onehot": 4,
    "n_jobs": 1,
    "verbose": -1,
}


class LogisticModel(ClassifierMixin, BaseEstimator):
    """Logistic regression on one-hot text features and standardized numbers."""

    def __init__(self, categorical=(), numeric=(), C=1.0, random_state=0):
        self.categorical = categorical
        self.numeric = numeric
        self.C = C
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y) -> LogisticModel:
        categorical = make_pipeline(
            SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY),
            OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=10),
        )
        numeric = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
        self.transformer_ = ColumnTransformer(
            [("categorical", categorical, list(self.categorical)), ("numeric", numeric, list(self.numeric))],
            sparse_threshold=0,
        )
        matrix = self.transformer_.fit_transform(_as_text(X, self.categorical), y)
        self.regression_ = LogisticRegression(C=self.C, max_iter=5000, random_state=self.random_state)
        self.regression_.fit(matrix, y)
        self.owners_ = _transformed_owners(self.transformer_, self.categorical, self.numeric)
        self.classes_ = self.regression_.classes_
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "regression_")
        return self.regression_.decision_function(self.transformer_.transform(_as_text(X, self.categorical)))

    def contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, float]:
        """Return the linear term of each input column (summed over its encoded
        columns) and the intercept; they add up to the raw score exactly."""
        check_is_fitted(self, "regression_")
        matrix = self.transformer_.transform(_as_text(X, self.categorical))
        terms = matrix * self.regression_.coef_[0]
        columns = list(self.categorical) + list(self.numeric)
        summed = np.zeros((len(X), len(columns)))
        for position, owner in enumerate(self.owners_):
            summed[:, columns.index(owner)] += terms[:, position]
        return summed, float(self.regression_.intercept_[0])


def _as_text(X: pd.DataFrame, categorical) -> pd.DataFrame:
    X = X.copy()
    for name in categorical:
        X[name] = X[name].astype(object).where(X[name].notna(), np.nan)
    return X


def _transformed_owners(transformer: ColumnTransformer, categorical, numeric) -> list[str]:
    """Name the input column behind each encoded column."""
    owners: list[str] = []
    encoder = transformer.named_transformers_["categorical"][-1] if categorical else None
    if encoder is not None:
        for position, name in enumerate(categorical):
            infrequent = encoder.infrequent_categories_[position]
            width = len(encoder.categories_[position])
            if infrequent is not None:
                # The infrequent values share one column.
                width += 1 - len(infrequent)
            owners += [name] * width
    if numeric:
        imputer = transformer.named_transformers_["numeric"][0]
        owners += list(numeric)
        if imputer.indicator_ is not None:
            owners += [numeric[i] for i in imputer.indicator_.features_]
    return owners


class BoostedModel(ClassifierMixin, BaseEstimator):
    """LightGBM gradient-boosted trees; text features as LightGBM categories."""

    def __init__(self, categorical=(), numeric=(), params=None, random_state=0):
        self.categorical = categorical
        self.numeric = numeric
        self.params = params
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y) -> BoostedModel:
        from lightgbm import LGBMClassifier

        self.categories_ = {
            name: sorted(X[name].dropna().astype(str).unique().tolist()) for name in self.categorical
        }
        settings = {**BOOSTED_FIXED, **(self.params or BOOSTED_GRID[0])}
        self.booster_ = LGBMClassifier(random_state=self.random_state, **settings)
        self.booster_.fit(self._encoded(X), y)
        self.classes_ = self.booster_.classes_
        return self

    def _encoded(self, X: pd.DataFrame) -> pd.DataFrame:
        X = X[list(self.categorical) + list(self.numeric)].copy()
        for name in self.categorical:
            # Values unseen in training become missing.
            values = X[name].astype(object)
            known = values.where(values.isin(self.categories_[name]))
            X[name] = pd.Categorical(known, categories=self.categories_[name])
        # LightGBM rejects some characters in feature names; positions have none.
        X.columns = [f"x{position}" for position in range(X.shape[1])]
        return X

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "booster_")
        return self.booster_.predict(self._encoded(X), raw_score=True)

    def contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, float]:
        """Return SHAP values per column and the bias; they add up to the raw score."""
        check_is_fitted(self, "booster_")
        values = self.booster_.predict(self._encoded(X), pred_contrib=True)
        return values[:, :-1], float(values[0, -1]) if len(values) else 0.0


class BlendedModel:
    """Ensemble: a weighted sum of the logistic and LightGBM raw scores.

    The weights and the bias come from a stacked logistic regression on the
    two models' out-of-fold raw scores. A column's contribution is its
    logistic term times the logistic weight plus its SHAP value times the
    LightGBM weight, so contributions and bias still add up to the raw score.
    """

    def __init__(self, logistic: LogisticModel, boosted: BoostedModel, weights, bias: float):
        self.logistic = logistic
        self.boosted = boosted
        self.weights = [float(weight) for weight in weights]
        self.bias = float(bias)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        logistic = self.logistic.decision_function(X)
        return blend(self.weights, self.bias, logistic, self.boosted.decision_function(X))

    def contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, float]:
        logistic, logistic_bias = self.logistic.contributions(X)
        boosted, boosted_bias = self.boosted.contributions(X)
        first, second = self.weights
        bias = first * logistic_bias + second * boosted_bias + self.bias
        return first * logistic + second * boosted, bias

    def settings(self) -> dict:
        return {
            "weights": {"logistic": self.weights[0], "lightgbm": self.weights[1]},
            "bias": self.bias,
            "logistic": {"C": self.logistic.C},
            "lightgbm": self.boosted.params,
        }


def blend(weights, bias: float, logistic_scores, boosted_scores) -> np.ndarray:
    return weights[0] * np.asarray(logistic_scores) + weights[1] * np.asarray(boosted_scores) + bias


def stack_weights(logistic_scores, boosted_scores, labels) -> tuple[list[float], float]:
    """Fit the blend: a logistic regression on the two out-of-fold raw scores."""
    stacked = LogisticRegression(C=1e6, max_iter=1000)
    stacked.fit(np.column_stack([logistic_scores, boosted_scores]), labels)
    return stacked.coef_[0].tolist(), float(stacked.intercept_[0])


class Calibrator:
    """Map raw scores to probabilities: isotonic regression or Platt scaling."""

    def __init__(self, method: str):
        self.method = method

    def fit(self, scores, labels) -> Calibrator:
        scores = np.asarray(scores, dtype=float)
        if self.method == "isotonic":
            self.mapping_ = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1)
            self.mapping_.fit(scores, labels)
        else:
            # Platt scaling: a logistic regression on the raw score alone.
            self.mapping_ = LogisticRegression(C=1e6, max_iter=1000)
            self.mapping_.fit(scores.reshape(-1, 1), labels)
        return self

    def probabilities(self, scores) -> np.ndarray:
        scores = np.asarray(scores, dtype=float)
        if self.method == "isotonic":
            return clip_probabilities(self.mapping_.predict(scores))
        return clip_probabilities(self.mapping_.predict_proba(scores.reshape(-1, 1))[:, 1])


# Folds of a model's training rows on which it chooses its setting and calibration.
INNER_FOLDS = 3


class CalibratedModel:
    """A fitted model with its calibrator, chosen by inner cross-validation.

    `fit` computes out-of-fold raw scores of every candidate setting on the
    training rows, with folds grouped by lead so one lead's cut-offs stay
    together. It keeps the setting with the best out-of-fold ROC AUC. It
    picks isotonic or Platt calibration by Brier score on those out-of-fold
    scores, each method fitted on one half and scored on the other, both
    ways. Then it refits the kept setting on all training rows. The ensemble does
    this for both kinds and calibrates the blend of their out-of-fold scores.
    """

    def __init__(
        self, kind: str, spec_columns: tuple[list[str], list[str]], *, quick=False, folds=INNER_FOLDS, seed=0
    ):
        self.kind = kind
        self.categorical, self.numeric = spec_columns
        self.quick = quick
        self.folds = folds
        self.seed = seed

    def _logistic_candidates(self) -> list:
        return [LogisticModel(self.categorical, self.numeric, C=1.0, random_state=self.seed)]

    def _boosted_candidates(self) -> list:
        grid = [QUICK_SETTING] if self.quick else BOOSTED_GRID
        return [BoostedModel(self.categorical, self.numeric, dict(params), self.seed) for params in grid]

    def fit(self, X: pd.DataFrame, y, groups) -> CalibratedModel:
        y = np.asarray(y)
        splits = list(
            StratifiedGroupKFold(self.folds, shuffle=True, random_state=self.seed).split(X, y, groups)
        )
        if self.kind == "ensemble":
            scores = self._fit_ensemble(X, y, splits)
        else:
            logistic = self.kind == "logistic"
            candidates = self._logistic_candidates() if logistic else self._boosted_candidates()
            best, scores = _best_candidate(candidates, X, y, splits)
            self.model_ = best.fit(X, y)
        self.inner_roc_auc_ = float(roc_auc_score(y, scores))
        self.method_ = _choose_calibration(scores, y, self.seed)
        self.calibrator_ = Calibrator(self.method_).fit(scores, y)
        return self

    def _fit_ensemble(self, X: pd.DataFrame, y: np.ndarray, splits) -> np.ndarray:
        """Fit both kinds and their blend, and return the blend's out-of-fold raw scores."""
        logistic, logistic_scores = _best_candidate(self._logistic_candidates(), X, y, splits)
        boosted, boosted_scores = _best_candidate(self._boosted_candidates(), X, y, splits)
        weights, bias = stack_weights(logistic_scores, boosted_scores, y)
        self.model_ = BlendedModel(logistic.fit(X, y), boosted.fit(X, y), weights, bias)
        return blend(weights, bias, logistic_scores, boosted_scores)

    def probabilities(self, X: pd.DataFrame) -> np.ndarray:
        return self.calibrator_.probabilities(self.model_.decision_function(X))

    def contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, float]:
        return self.model_.contributions(X)

    def settings(self) -> dict:
        if isinstance(self.model_, BlendedModel):
            params = self.model_.settings()
        else:
            params = getattr(self.model_, "params", None) or {"C": getattr(self.model_, "C", None)}
        return {"kind": self.kind, "calibration": self.method_, "params": params}


def _best_candidate(candidates: list, X: pd.DataFrame, y: np.ndarray, splits):
    """Return the candidate with the best out-of-fold ROC AUC, unfitted, and its scores."""
    best_auc, best, best_scores = -1.0, None, None
    for candidate in candidates:
        scores = _out_of_fold_scores(candidate, X, y, splits)
        auc = roc_auc_score(y, scores)
        if auc > best_auc:
            best_auc, best, best_scores = auc, candidate, scores
    return best, best_scores


def _out_of_fold_scores(candidate, X: pd.DataFrame, y: np.ndarray, splits) -> np.ndarray:
    from sklearn.base import clone

    scores = np.zeros(len(y))
    for train, test in splits:
        model = clone(candidate).fit(X.iloc[train], y[train])
        scores[test] = model.decision_function(X.iloc[test])
    return scores


def _choose_calibration(scores: np.ndarray, labels: np.ndarray, seed: int) -> str:
    """Pick the calibration with the lower Brier score on held-out halves."""
    rng = np.random.default_rng(seed)
    halves = rng.permutation(len(labels)) % 2 == 0
    losses = {}
    for method in ("isotonic", "platt"):
        loss = 0.0
        for fit_rows in (halves, ~halves):
            calibrator = Calibrator(method).fit(scores[fit_rows], labels[fit_rows])
            loss += brier_score_loss(labels[~fit_rows], calibrator.probabilities(scores[~fit_rows]))
        losses[method] = loss
    return min(losses, key=losses.get)
