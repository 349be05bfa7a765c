"""The processing benchmark's reference: the same raw -> processed work done the plain pandas way.

``read_csv``, boolean masks, ``sort_values`` + ``drop_duplicates``, ``factorize``, ``groupby`` and
``to_parquet``, stage names as in :func:`recsys.benchmarks.processing.run_ours`, so the two are
timed stage by stage (``recsys-bench-processing``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from recsys.benchmarks.stages import Stages, result
from recsys.data.features import SECONDS_PER_DAY, SECONDS_PER_MONTH, SECONDS_PER_YEAR
from recsys.data.process import NO_GENRES, YEAR_PATTERN

TEST, VAL = 0.2, 0.1


def pandas_clean(raw: Path, st: Stages, engine: str) -> tuple[Any, Any, Any, Any]:
    """read_csv, to_numeric/null/range/unknown-movie checks, keep the latest duplicate."""
    import pandas as pd

    with st("parse"):
        r = pd.read_csv(raw / "ratings.csv", engine=engine)
        mv = pd.read_csv(raw / "movies.csv", dtype=str, keep_default_na=False)
        links = pd.read_csv(raw / "links.csv", dtype={"imdbId": str})
        tags = pd.read_csv(raw / "tags.csv")
    with st("validate"):
        r = r.apply(pd.to_numeric, errors="coerce")
        bad = r.isna().any(axis=1) | ~r["rating"].between(0.5, 5.0)
        mv["movieId"] = pd.to_numeric(mv["movieId"], errors="coerce")
        mv = mv.dropna(subset=["movieId"]).drop_duplicates("movieId", keep="first")
        mv["movieId"] = mv["movieId"].astype("int64")
        r = r[~bad & r["movieId"].isin(mv["movieId"])]
        r = r.astype({"userId": "int64", "movieId": "int64", "rating": "float32", "timestamp": "int64"})
    with st("dedupe"):
        r = r.sort_values(["userId", "movieId", "timestamp"], kind="stable")
        r = r.drop_duplicates(["userId", "movieId"], keep="last")
    return r, mv, links, tags


def pandas_write(r: Any, mv: Any, links: Any, tags: Any, out: Path, st: Stages) -> tuple[Any, Any]:
    """Contiguous ids, ratings/users/movies/links/tags Parquet and dataset statistics."""
    import pandas as pd

    with st("write_processed"):
        codes, user_ids = pd.factorize(r["userId"], sort=True)
        r["user_idx"] = codes.astype("int32")
        codes, item_ids = pd.factorize(r["movieId"], sort=True)
        r["item_idx"] = codes.astype("int32")
        r = r[["user_idx", "item_idx", "userId", "movieId", "rating", "timestamp"]]
        r = r.sort_values(["user_idx", "timestamp", "item_idx"], ignore_index=True)
        r.to_parquet(out / "ratings.parquet", index=False, row_group_size=1_000_000)
        pd.DataFrame({"user_idx": np.arange(len(user_ids), dtype="int32"), "userId": user_ids}).to_parquet(
            out / "users.parquet", index=False)  # fmt: skip
        mv = mv.sort_values("movieId", ignore_index=True)
        mv["item_idx"] = mv["movieId"].map(pd.Series(np.arange(len(item_ids)), index=item_ids)).astype("Int32")
        mv["year"] = pd.to_numeric(mv["title"].str.extract(YEAR_PATTERN)[0], errors="coerce").astype("Int32")
        mv["title"] = mv["title"].str.replace(YEAR_PATTERN, "", regex=True).str.strip()
        empty = mv["genres"].isin(["", NO_GENRES])
        mv["genres"] = [[] if e else g.split("|") for e, g in zip(empty, mv["genres"])]
        mv = mv[["item_idx", "movieId", "title", "year", "genres"]]
        mv.to_parquet(out / "movies.parquet", index=False)
        links["movieId"] = pd.to_numeric(links["movieId"], errors="coerce")
        links["tmdbId"] = pd.to_numeric(links["tmdbId"], errors="coerce").astype("Int64")
        links.dropna(subset=["movieId"]).to_parquet(out / "links.parquet", index=False)
        tags = tags.astype({"userId": "int64", "movieId": "int64", "timestamp": "int64"})
        tags.to_parquet(out / "tags.parquet", index=False)
    with st("statistics"):
        n_u, n_i = r["user_idx"].nunique(), r["item_idx"].nunique()
        ds = {"n_users": n_u, "n_movies": n_i, "n_ratings": len(r), "sparsity": 1 - len(r) / (n_u * n_i),
              "avg_rating": float(r["rating"].astype("float64").mean()),
              "rating_std": float(r["rating"].astype("float64").std()),
              "first_timestamp": int(r["timestamp"].min()), "last_timestamp": int(r["timestamp"].max())}  # fmt: skip
        (out / "statistics.json").write_text(json.dumps(ds, default=int))
    return r, mv, ds


def pandas_split(r: Any, out: Path, st: Stages) -> dict[str, Any]:
    """Per-user random 20% test, 10% of the rest val, by the rank of a random key per row."""
    import pandas as pd

    with st("split"):
        key = pd.Series(np.random.default_rng(0).random(len(r)))
        k = key.groupby(r["user_idx"].values).rank(method="first").to_numpy()
        n = r.groupby("user_idx")["user_idx"].transform("size").to_numpy()
        n_test = np.floor(n * TEST + 0.5)  # SQL round(): half away from zero
        n_val = np.floor((n - n_test) * VAL + 0.5)
        which = np.where(k <= n_test, 2, np.where(k <= n_test + n_val, 1, 0))
        parts = {name: r[which == i].reset_index(drop=True) for i, name in enumerate(("train", "val", "test"))}
        (out / "splits").mkdir(exist_ok=True)
        for name, df in parts.items():  # r is sorted by (user_idx, timestamp, item_idx) already
            df.to_parquet(out / "splits" / f"{name}.parquet", index=False, row_group_size=1_000_000)
    with st("statistics"):
        stats: dict[str, Any] = {}
        for name, df in parts.items():
            stats[name] = {"n_ratings": len(df), "n_users": df["user_idx"].nunique(),
                           "n_items": df["item_idx"].nunique()}  # fmt: skip
        train_u, train_i = parts["train"]["user_idx"].unique(), parts["train"]["item_idx"].unique()
        for name in ("val", "test"):
            df = parts[name]
            stats[name]["users_not_in_train"] = df.loc[~df["user_idx"].isin(train_u), "user_idx"].nunique()
            stats[name]["items_not_in_train"] = df.loc[~df["item_idx"].isin(train_i), "item_idx"].nunique()
        (out / "splits" / "statistics.json").write_text(json.dumps(stats, default=int))
    return parts


def pandas_features(parts: dict[str, Any], mv: Any, out: Path, st: Stages) -> Any:
    """User, item and interaction features from train only (as ``recsys.data.features``)."""
    import pandas as pd

    with st("features"):
        train, feat = parts["train"], out / "splits" / "features"
        feat.mkdir(exist_ok=True)
        u = train.groupby("user_idx").agg(
            rating_mean=("rating", "mean"), rating_std=("rating", "std"), rating_count=("rating", "size"),
            rmin=("rating", "min"), rmax=("rating", "max"), first_ts=("timestamp", "min"),
            last_ts=("timestamp", "max"))  # fmt: skip
        u["rating_std"] = u["rating_std"].fillna(0)
        u["rating_range"] = u.pop("rmax") - u.pop("rmin")
        months = np.maximum((u["last_ts"] - u["first_ts"]) / SECONDS_PER_MONTH, 1.0)
        u["ratings_per_month"] = u["rating_count"] / months
        u["days_since_last"] = (train["timestamp"].max() - u.pop("last_ts")) / SECONDS_PER_DAY
        u.pop("first_ts")
        ex = mv.dropna(subset=["item_idx"])[["item_idx", "genres"]].explode("genres").dropna()
        ex = ex.astype({"item_idx": "int32", "genres": pd.CategoricalDtype(sorted(ex["genres"].unique()))})
        cnt = train[["user_idx", "item_idx"]].merge(ex, on="item_idx")
        cnt = cnt.groupby(["user_idx", "genres"], observed=True).size().reset_index(name="n")
        cnt = cnt.sort_values(["user_idx", "n", "genres"], ascending=[True, False, True])
        top = cnt.groupby("user_idx").head(3).groupby("user_idx")["genres"].agg(lambda s: list(s.astype(str)))
        u["top_genres"] = top.reindex(u.index)
        u["top_genres"] = [g if isinstance(g, list) else [] for g in u["top_genres"]]
        u = u[["rating_mean", "rating_std", "rating_count", "rating_range", "top_genres", "ratings_per_month",
               "days_since_last"]]  # fmt: skip
        u.reset_index().to_parquet(feat / "users.parquet", index=False)
        pandas_item_features(train, mv).to_parquet(feat / "items.parquet", index=False)
        for name, df in parts.items():
            x = df[["user_idx", "item_idx", "rating", "timestamp"]].merge(
                u[["rating_mean", "rating_std"]], left_on="user_idx", right_index=True, how="left")
            z = (x["rating"] - x["rating_mean"]) / x["rating_std"]
            dt = pd.to_datetime(x["timestamp"], unit="s")
            pd.DataFrame({"user_idx": x["user_idx"], "item_idx": x["item_idx"],
                          "rating_z": z.where(x["rating_std"] > 0, 0.0),
                          "day_of_week": (dt.dt.day_of_week + 1) % 7, "hour": dt.dt.hour}).to_parquet(
                feat / f"interactions_{name}.parquet", index=False)  # fmt: skip
    return u


def pandas_item_features(train: Any, mv: Any) -> Any:
    """Count, log popularity, mean, std and least-squares rating-per-year slope of every item."""
    import pandas as pd

    t = pd.DataFrame({"item_idx": train["item_idx"], "y": train["rating"].astype("float64"),
                      "x": train["timestamp"] / SECONDS_PER_YEAR})  # fmt: skip
    g = t.groupby("item_idx")
    t["dx"] = t["x"] - g["x"].transform("mean")
    t["dy"] = t["y"] - g["y"].transform("mean")
    t["sxy"], t["sxx"] = t["dx"] * t["dy"], t["dx"] * t["dx"]
    s = t.groupby("item_idx").agg(rating_count=("y", "size"), rating_mean=("y", "mean"), rating_std=("y", "std"),
                                  sxy=("sxy", "sum"), sxx=("sxx", "sum"))  # fmt: skip
    s["rating_trend"] = (s.pop("sxy") / s.pop("sxx").where(lambda v: v > 0)).fillna(0)
    items = mv.dropna(subset=["item_idx"]).astype({"item_idx": "int32"}).merge(
        s, left_on="item_idx", right_index=True, how="left")
    items["rating_count"] = items["rating_count"].fillna(0).astype("int64")
    items["log_popularity"] = np.log1p(items["rating_count"])
    items["rating_mean"] = items["rating_mean"].fillna(t["y"].mean())
    items[["rating_std", "rating_trend"]] = items[["rating_std", "rating_trend"]].fillna(0)
    return items[["item_idx", "rating_count", "log_popularity", "rating_mean", "rating_std", "rating_trend",
                  "year", "genres"]]  # fmt: skip


def run_pandas(raw: Path, work: Path, engine: str) -> dict[str, Any]:
    """The whole pipeline in plain pandas; stage names follow ``run_ours``."""
    st = Stages()
    out = work / "processed"
    out.mkdir(parents=True, exist_ok=True)
    r, mv, links, tags = pandas_clean(raw, st, engine)
    r, mv, ds = pandas_write(r, mv, links, tags, out, st)
    parts = pandas_split(r, out, st)
    del r
    u = pandas_features(parts, mv, out, st)
    s = st.seconds
    stages = {"parse_check": s["parse"], "validate_dedupe": s["validate"] + s["dedupe"],
              **{k: s[k] for k in ("write_processed", "split", "features", "statistics")}}  # fmt: skip
    sizes = {k: len(v) for k, v in parts.items()}
    return result(stages, ds, sizes, u["rating_mean"].mean()) | {"engine": engine}
