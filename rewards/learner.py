"""The reward model itself: fitting and predicting, no database.

Training examples:
- cards: {"item": dict, "reward": float in [0, 1], "dimensions": {dimension: float in [0, 1]}, "domain", "key"}
  (one per trace; the mean over its score cards);
- pairs: {"a": item, "b": item, "winner": "a" | "b" | "tie", "domain", "key"} (ties are not trained on).

Model (all linear, on the features of rewards.features):
1. Bradley–Terry: P(a beats b) = sigmoid(w · (x_a - x_b)), a logistic regression on
   feature differences with both orders (no intercept), so w · x is a utility.
2. Pointwise: ridge regression of [reward, success, helpfulness, tone_alignment, safety]
   on the features plus the standardized Bradley–Terry utility (stacking: the
   preferences inform the reward through that one column, weighted by the score cards).
3. Reward = the mean of a bootstrap ensemble of those ridge fits (`members`, fixed seed).
4. Uncertainty, an expected |predicted − human reward| (see `_fit_uncertainty`):
   - an error model: ridge regression of each training trace's out-of-bag absolute error
     (members that did not see it predict it) on the same features — it learns which kinds
     of trace the reviewers score unpredictably;
   - novelty ν in [0, 1]: the share of the item's text (l2 mass of its hashed n-grams) that
     falls on columns no training trace used; the model knows nothing about those words, so
     uncertainty = (1 − ν) · error model + ν · prior error, the prior error being the mean
     |reward − mean reward| of the training traces (the error of knowing nothing).
   Without score cards the reward is sigmoid(utility - median training utility) of
   a bootstrap ensemble of Bradley–Terry fits, uncertainty their deviation.

The artifact is a plain dict of numpy/scipy arrays (no fitted sklearn objects), so
loading it needs only numpy and scipy and prediction is two sparse products.
"""

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression, Ridge

from rewards import features

ARTIFACT_FORMAT = 2  # 2: error model + novelty for uncertainty (format 1 artifacts still load)
DIMENSIONS = ("success", "helpfulness", "tone_alignment", "safety")
TARGETS = ("reward", *DIMENSIONS)
ALGORITHM = "hashed text + structured features; Bradley–Terry logistic + bootstrap ridge ensemble"

DEFAULT_HYPERPARAMETERS = {
    "ridge_alpha": 3.0,
    "bt_C": 0.5,
    "members": 5,
    "seed": 20261201,
    "pair_temperature": 0.1,
    "max_iter": 500,
    "error_alpha": 30.0,
}


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(values, -30, 30)))


def _dense(product) -> np.ndarray:
    return product.toarray() if sparse.issparse(product) else np.asarray(product)


def _pair_differences(x_a: sparse.csr_matrix, x_b: sparse.csr_matrix, pairs: list[dict]):
    wins = np.array([p["winner"] == "a" for p in pairs], dtype=np.int64)
    difference = x_a - x_b
    # Both orders, so the fit is symmetric and needs no intercept.
    return sparse.vstack([difference, -difference], format="csr"), np.concatenate([wins, 1 - wins])


def _scaling(artifact: dict) -> dict:
    return {"dense_mean": artifact["dense_mean"], "dense_scale": artifact["dense_scale"]}


def _fit_bradley_terry(difference: sparse.csr_matrix, wins: np.ndarray, hyper: dict, members: int):
    half = difference.shape[0] // 2
    rng = np.random.default_rng(hyper["seed"])
    columns = []
    for _member in range(members):
        rows = np.arange(half) if members == 1 else rng.integers(0, half, size=half)
        rows = np.concatenate([rows, rows + half])
        y = wins[rows]
        if len(set(y.tolist())) < 2:
            columns.append(np.zeros(difference.shape[1]))
            continue
        # The dual problem: far fewer examples than columns here (5× faster on PandaLM, same optimum);
        # its coordinate descent visits rows in a random order, hence the seed.
        fit = LogisticRegression(
            C=hyper["bt_C"],
            fit_intercept=False,
            max_iter=hyper["max_iter"],
            solver="liblinear",
            dual=True,
            random_state=hyper["seed"],
        )
        fit.fit(difference[rows], y)
        columns.append(fit.coef_[0])
    return sparse.csc_matrix(np.column_stack(columns))


def _utility(artifact: dict, x: sparse.csr_matrix) -> np.ndarray | None:
    """Bradley–Terry utilities, one column per ensemble member (None without preferences)."""
    if artifact["bt_weights"] is None:
        return None
    return _dense(x @ artifact["bt_weights"])


def _with_utility(artifact: dict, x: sparse.csr_matrix) -> sparse.csr_matrix:
    utility = _utility(artifact, x)
    if utility is None:
        return x
    column = (utility.mean(axis=1) - artifact["utility_mean"]) / artifact["utility_scale"]
    return sparse.hstack([x, sparse.csr_matrix(column.reshape(-1, 1))], format="csr")


DIRECT_RIDGE_MAX_SIZE = 4000


def _ridge(x: sparse.csr_matrix, y: np.ndarray, alpha: float, max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Ridge with intercept: (weights of shape features × targets, intercepts), solved exactly on
    centered data in whichever form is smaller — the dual w = Xcᵀ(XcXcᵀ + αI)⁻¹yc (n × n) when there
    are few rows, the primal (XcᵀXc + αI)w = Xcᵀyc restricted to the columns that occur when few
    columns occur. Both are deterministic. Only when both are large: sklearn's iterative lsqr."""
    n = x.shape[0]
    x_mean = np.asarray(x.mean(axis=0)).ravel()
    y_mean = y.mean(axis=0)
    y_centered = y - y_mean
    active = np.unique(x.indices)
    if n <= min(DIRECT_RIDGE_MAX_SIZE, len(active)):
        kernel = (x @ x.T).toarray()
        row_mean = kernel.mean(axis=1, keepdims=True)
        centered = kernel - row_mean - row_mean.T + kernel.mean()
        dual = np.linalg.solve(centered + alpha * np.eye(n), y_centered)
        dual -= dual.mean(axis=0)
        weight = _dense(x.T @ dual) - np.outer(x_mean, dual.sum(axis=0))
    elif len(active) <= DIRECT_RIDGE_MAX_SIZE:
        columns = x[:, active]
        mean = x_mean[active]
        gram = (columns.T @ columns).toarray() - n * np.outer(mean, mean)
        weight = np.zeros((x.shape[1], y.shape[1]))
        weight[active] = np.linalg.solve(gram + alpha * np.eye(len(active)), _dense(columns.T @ y_centered))
    else:
        fit = Ridge(alpha=alpha, solver="lsqr", tol=1e-6, max_iter=max_iter).fit(x, y)
        return fit.coef_.T, fit.intercept_
    return weight, y_mean - x_mean @ weight


def _fit_pointwise(x: sparse.csr_matrix, cards: list[dict], artifact: dict, hyper: dict) -> None:
    x = _with_utility(artifact, x)
    y = np.array([[c["reward"], *[c["dimensions"][d] for d in DIMENSIONS]] for c in cards], dtype=np.float64)
    rng = np.random.default_rng(hyper["seed"] + 1)
    n = len(cards)
    weights, intercepts = [], []
    out_of_bag_sum, out_of_bag_count = np.zeros(n), np.zeros(n)
    for _ in range(hyper["members"]):
        rows = rng.integers(0, n, size=n)
        weight, intercept = _ridge(x[rows], y[rows], hyper["ridge_alpha"], hyper["max_iter"])
        weights.append(weight)
        intercepts.append(intercept)
        unused = np.setdiff1d(np.arange(n), rows)
        if len(unused):
            predicted = _dense(x[unused] @ weight[:, 0]).ravel() + intercept[0]
            out_of_bag_sum[unused] += np.clip(predicted, 0.0, 1.0)
            out_of_bag_count[unused] += 1
    artifact["point_weights"] = sparse.csc_matrix(np.hstack(weights))
    artifact["point_intercepts"] = np.concatenate(intercepts)
    _fit_uncertainty(x, y[:, 0], out_of_bag_sum, out_of_bag_count, artifact, hyper)


def _text_columns() -> int:
    return features.n_features() - len(features.DENSE_FEATURES)


def _novelty(artifact: dict, x: sparse.csr_matrix) -> np.ndarray:
    """Per row, the mean over its non-empty text blocks of the share of the block's l2 mass on
    columns no training trace used (each block is l2-normalized, so its mass is 1)."""
    blocks = features.text_blocks()
    n_rows, n_blocks = x.shape[0], len(blocks)
    row = np.repeat(np.arange(n_rows), np.diff(x.indptr))
    text = x.indices < blocks[-1][1]
    columns, mass = x.indices[text], x.data[text] ** 2
    cell = row[text] * n_blocks + np.searchsorted([stop for _, stop in blocks], columns, side="right")
    seen = np.zeros(blocks[-1][1], dtype=bool)
    seen[artifact["seen_columns"]] = True
    unseen = ~seen[columns]
    # numpy 2.4: bincount of empty input is int64 whatever the weights; divide into it and the cast fails.
    size = n_rows * n_blocks
    total = np.bincount(cell, weights=mass, minlength=size).astype(np.float64).reshape(n_rows, n_blocks)
    new = np.bincount(cell, weights=mass * unseen, minlength=size).astype(np.float64).reshape(n_rows, n_blocks)
    present = total > 1e-12
    shares = np.divide(new, total, out=np.zeros_like(total, dtype=float), where=present)
    count = present.sum(axis=1)
    return np.divide(shares.sum(axis=1), count, out=np.zeros(n_rows), where=count > 0)


def _fit_uncertainty(x, reward, out_of_bag_sum, out_of_bag_count, artifact: dict, hyper: dict) -> None:
    """The error model: ridge of the out-of-bag absolute error on the features (traces every
    member saw are left out), plus what novelty needs (the columns training used, the prior error)."""
    artifact["seen_columns"] = np.unique(x.indices[x.indices < _text_columns()]).astype(np.int32)
    artifact["prior_error"] = float(np.abs(reward - reward.mean()).mean())
    rows = np.flatnonzero(out_of_bag_count > 0)
    if len(rows) < 2:
        artifact["error_weights"], artifact["error_intercept"] = None, artifact["prior_error"]
        return
    error = np.abs(out_of_bag_sum[rows] / out_of_bag_count[rows] - reward[rows]).reshape(-1, 1)
    weight, intercept = _ridge(x[rows], error, hyper["error_alpha"], hyper["max_iter"])
    artifact["error_weights"] = sparse.csc_matrix(weight)
    artifact["error_intercept"] = float(intercept[0])
    # The smallest error the model admits to: a fifth of its typical out-of-bag error.
    artifact["error_floor"] = float(error.mean() / 5)


def _uncertainty(artifact: dict, x: sparse.csr_matrix, predicted_reward: np.ndarray) -> np.ndarray:
    if "prior_error" not in artifact:  # format 1: the ensemble deviation, rescaled
        return np.minimum(1.0, artifact.get("uncertainty_scale", 1.0) * predicted_reward.std(axis=1))
    if artifact["error_weights"] is None:
        expected = np.full(x.shape[0], artifact["error_intercept"])
    else:
        expected = _dense(x @ artifact["error_weights"]).ravel() + artifact["error_intercept"]
        expected = np.maximum(expected, artifact["error_floor"])
    novelty = _novelty(artifact, x)
    return np.minimum(1.0, (1 - novelty) * expected + novelty * artifact["prior_error"])


def learner_fit(*, cards: list[dict], pairs: list[dict], hyperparameters: dict | None = None) -> dict:
    """Fit the model; returns the artifact dict. Needs score cards or decisive pairs (or both)."""
    hyper = {**DEFAULT_HYPERPARAMETERS, **(hyperparameters or {})}
    decisive = [p for p in pairs if p["winner"] in ("a", "b")]
    if not cards and not decisive:
        raise ValueError("nothing to train on: no score cards and no decisive preferences")
    items = [c["item"] for c in cards] + [p["a"] for p in decisive] + [p["b"] for p in decisive]
    dense = features.dense_matrix(items)
    mean, scale = features.dense_standardization_of(dense)
    artifact = {
        "format": ARTIFACT_FORMAT,
        "feature_version": features.FEATURE_VERSION,
        "hyperparameters": hyper,
        "dense_mean": mean,
        "dense_scale": scale,
        "bt_weights": None,
        "point_weights": None,
        "point_intercepts": None,
    }
    # One feature matrix for every training item: cards, then the a sides, then the b sides.
    x = features.feature_matrix(items, dense_mean=mean, dense_scale=scale, dense=dense)
    n_cards, n_pairs = len(cards), len(decisive)
    if decisive:
        x_a, x_b = x[n_cards : n_cards + n_pairs], x[n_cards + n_pairs :]
        difference, wins = _pair_differences(x_a, x_b, decisive)
        artifact["bt_weights"] = _fit_bradley_terry(difference, wins, hyper, 1 if cards else hyper["members"])
        utility = _utility(artifact, x).mean(axis=1)
        artifact["utility_mean"] = float(utility.mean())
        artifact["utility_scale"] = float(utility.std()) or 1.0
        artifact["utility_center"] = float(np.median(utility))
    if cards:
        _fit_pointwise(x[:n_cards], cards, artifact, hyper)
    return artifact


def learner_predict(artifact: dict, items: list[dict]) -> dict:
    """{"reward": (n,), "uncertainty": (n,), "dimensions": (n, 4) or None} for the items (vectorized)."""
    if not items:
        return {"reward": np.zeros(0), "uncertainty": np.zeros(0), "dimensions": None}
    x = features.feature_matrix(items, **_scaling(artifact))
    if artifact["point_weights"] is not None:
        x = _with_utility(artifact, x)
        members = artifact["hyperparameters"]["members"]
        predicted = _dense(x @ artifact["point_weights"]) + artifact["point_intercepts"]
        predicted = np.clip(predicted, 0.0, 1.0).reshape(len(items), members, len(TARGETS))
        return {
            "reward": predicted[:, :, 0].mean(axis=1),
            "uncertainty": _uncertainty(artifact, x, predicted[:, :, 0]),
            "dimensions": predicted[:, :, 1:].mean(axis=1),
        }
    rewards = _sigmoid(_utility(artifact, x) - artifact["utility_center"])
    return {"reward": rewards.mean(axis=1), "uncertainty": rewards.std(axis=1), "dimensions": None}


def learner_pair_probability(artifact: dict, items_a: list[dict], items_b: list[dict]) -> np.ndarray:
    """P(a is preferred to b): Bradley–Terry when the model has preferences, else from the reward gap."""
    if not items_a:
        return np.zeros(0)
    if artifact["bt_weights"] is not None:
        x_a = features.feature_matrix(items_a, **_scaling(artifact))
        x_b = features.feature_matrix(items_b, **_scaling(artifact))
        return _sigmoid((_utility(artifact, x_a) - _utility(artifact, x_b)).mean(axis=1))
    temperature = artifact["hyperparameters"]["pair_temperature"]
    gap = learner_predict(artifact, items_a)["reward"] - learner_predict(artifact, items_b)["reward"]
    return _sigmoid(gap / temperature)
