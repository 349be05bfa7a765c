"""Benchmark raw ``ratings.csv`` -> processed Parquet, split, features and statistics, against pandas.

Usage: ``python scripts/bench_processing.py [--ratings 25000095] [--pandas-ratings N]
[--memory-limit 5GB] [--output experiments/processing_speed.json]``

Each approach runs in a fresh subprocess so that its peak RSS (``getrusage``, DuckDB included) is its
own. "ours" is ``process_raw(CsvReader(), raw, out)`` then ``write_split(RandomPerUserSplit(), ...)``;
"pandas" does the same work the plain way (``read_csv``, boolean masks, ``sort_values`` +
``drop_duplicates``, ``factorize``, ``groupby``, ``to_parquet``). Synthetic raw data is generated
once into ``data/synthetic/bench-<n>`` (not timed). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from recsys.data.features import SECONDS_PER_DAY, SECONDS_PER_MONTH, SECONDS_PER_YEAR
from recsys.data.process import NO_GENRES, YEAR_PATTERN
from recsys.synthetic.generator import SyntheticConfig, generate_synthetic
from recsys.utils.atomic import atomic_directory

TEST, VAL = 0.2, 0.1


class Stages:
    """Wall-clock seconds per named stage (repeated names add up)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0

    def timed(self, name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self(name):
                return fn(*args, **kwargs)
        return wrapper


def raw_folder(n_ratings: int) -> Path:
    """``data/synthetic/bench-<n>``, generated once with users and items scaled to ``n_ratings``."""
    path = Path("data/synthetic") / f"bench-{n_ratings}"
    if not (path / "ratings.csv").exists():
        d = SyntheticConfig()
        f = n_ratings / d.n_ratings
        cfg = SyntheticConfig(n_users=max(1, round(d.n_users * f)), n_items=max(200, round(d.n_items * f)),
                              n_ratings=n_ratings)  # fmt: skip
        print(f"generating {path} (not timed)", file=sys.stderr)
        with atomic_directory(path) as tmp:
            generate_synthetic(cfg, tmp, progress=False)
    return path


def run_ours(raw: Path, work: Path, memory_limit: str) -> dict[str, Any]:
    """``process_raw`` + ``write_split`` with per-stage timers patched around their helpers."""
    import recsys.data.process as proc
    from recsys.data.readers import CsvReader
    from recsys.data.splits import RandomPerUserSplit

    st = Stages()
    proc.validate = st.timed("validate_dedupe", proc.validate)
    proc.dataset_statistics = st.timed("statistics", proc.dataset_statistics)
    proc.split_statistics = st.timed("statistics", proc.split_statistics)
    proc.write_features = st.timed("features", proc.write_features)
    reader = CsvReader()
    reader.register = st.timed("parse_check", reader.register)
    con = proc.connect(memory_limit, temp_dir=work / "duckdb_tmp")
    out = work / "processed"
    with st("process_raw"):
        proc.process_raw(reader, raw, out, con=con)
    with st("write_split"):
        stats = proc.write_split(RandomPerUserSplit(), out, out / "splits" / "random", con=con)
    s = st.seconds
    stages = {
        "parse_check": s["parse_check"], "validate_dedupe": s["validate_dedupe"],
        "write_processed": s["process_raw"] - s["parse_check"] - s["validate_dedupe"],
        "split": s["write_split"] - s["features"] - s["statistics"],
        "features": s["features"], "statistics": s["statistics"],
    }  # fmt: skip
    ds = json.loads((out / "statistics.json").read_text())
    users = out / "splits" / "random" / "features" / "users.parquet"
    mean_user_mean = con.execute(f"SELECT avg(rating_mean) FROM '{users}'").fetchone()[0]
    return _result(stages, ds, {k: stats[k]["n_ratings"] for k in ("train", "val", "test")}, mean_user_mean)


def _result(stages: dict[str, float], ds: dict, sizes: dict, mean_user_mean: float) -> dict[str, Any]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds_total": sum(stages.values()),
        "stages": stages,
        "peak_rss_gb": ru.ru_maxrss / 2**20,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "loadavg_end": os.getloadavg(),
        "check": {"n_ratings": ds["n_ratings"], "n_users": ds["n_users"], "n_movies": ds["n_movies"],
                  "avg_rating": ds["avg_rating"], "split_sizes": sizes,
                  "mean_user_rating_mean": float(mean_user_mean)},
    }  # fmt: skip


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
    return _result(stages, ds, sizes, u["rating_mean"].mean()) | {"engine": engine}


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM and load average at the start."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as f:
        cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import duckdb
    import pandas as pd

    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(ram, 1), "loadavg": os.getloadavg(),
            "python": platform.python_version(), "duckdb": duckdb.__version__, "pandas": pd.__version__}  # fmt: skip


def child(approach: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """Runs one approach on ``bench-<n>`` in a fresh interpreter; returns its JSON (or the error)."""
    raw = raw_folder(n)
    work = Path(args.work) / f"{n}" / approach
    cmd = [sys.executable, __file__, "--child", approach, "--raw", str(raw), "--work", str(work),
           "--memory-limit", args.memory_limit, "--pandas-engine", args.pandas_engine]  # fmt: skip
    print(f"running {approach} on {raw}", file=sys.stderr)
    t0, load0 = time.perf_counter(), os.getloadavg()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": f"exit code {proc.returncode}", "wall_s": wall, "loadavg_start": load0}
    return json.loads(proc.stdout.strip().splitlines()[-1]) | {"wall_s": wall, "loadavg_start": load0}


def consistency(ours: dict, pandas: dict) -> dict[str, Any]:
    """Same cleaned data, split sizes within one rating per user, close train user means."""
    a, b = ours["check"], pandas["check"]
    n_users = a["n_users"]
    sizes = {k: {"ours": a["split_sizes"][k], "pandas": b["split_sizes"][k]} for k in ("train", "val", "test")}
    ok_sizes = all(abs(v["ours"] - v["pandas"]) <= n_users for v in sizes.values())
    mean_diff = abs(a["mean_user_rating_mean"] - b["mean_user_rating_mean"])
    return {
        "n_ratings_equal": a["n_ratings"] == b["n_ratings"],
        "n_users_equal": a["n_users"] == b["n_users"], "n_movies_equal": a["n_movies"] == b["n_movies"],
        "avg_rating_diff": abs(a["avg_rating"] - b["avg_rating"]),
        "split_sizes": sizes, "split_sizes_within_1_per_user": ok_sizes,
        "mean_user_rating_mean": {"ours": a["mean_user_rating_mean"], "pandas": b["mean_user_rating_mean"]},
        "ok": a["n_ratings"] == b["n_ratings"] and a["n_users"] == b["n_users"] and ok_sizes
        and abs(a["avg_rating"] - b["avg_rating"]) < 1e-6 and mean_diff < 5e-3,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ratings", type=int, default=SyntheticConfig().n_ratings)
    p.add_argument("--pandas-ratings", type=int, default=None, help="run pandas (and ours again) at this size")
    p.add_argument("--memory-limit", default="5GB", help="DuckDB memory_limit for ours")
    p.add_argument("--pandas-engine", default="c", choices=["c", "pyarrow"], help="pd.read_csv engine")
    p.add_argument("--work", default="data/processed/bench", help="scratch output folder")
    p.add_argument("--output", type=Path, default=None, help="also write the JSON here")
    p.add_argument("--child", choices=["ours", "pandas"], help=argparse.SUPPRESS)
    p.add_argument("--raw", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        work = Path(args.work)
        work.mkdir(parents=True, exist_ok=True)
        if args.child == "ours":
            res = run_ours(args.raw, work, args.memory_limit)
        else:
            res = run_pandas(args.raw, work, args.pandas_engine)
        print(json.dumps(res))
        return res
    report: dict[str, Any] = {"machine": machine(), "n_ratings": args.ratings, "memory_limit": args.memory_limit}
    report["ours"] = child("ours", args.ratings, args)
    n_pd = args.pandas_ratings or args.ratings
    if n_pd != args.ratings:
        report["same_size"] = {"n_ratings": n_pd, "ours": child("ours", n_pd, args)}
        report["same_size"]["pandas"] = child("pandas", n_pd, args)
        pair = report["same_size"]
    else:
        report["pandas"] = child("pandas", n_pd, args)
        pair = report
    ours, pd_res = pair["ours"], pair["pandas"]
    ok = "error" not in ours and "error" not in pd_res
    if ok:
        report["consistency"] = consistency(ours, pd_res)
        report["speedup"] = pd_res["seconds_total"] / ours["seconds_total"]
    main_ours = report["ours"]
    report["targets_met"] = {
        "under_60s": "error" not in main_ours and main_ours["seconds_total"] < 60,
        "under_6gb": "error" not in main_ours and main_ours["peak_rss_gb"] < 6,
        "faster_than_pandas": ok and ours["seconds_total"] < pd_res["seconds_total"],
    }
    report["machine"]["loadavg_end"] = os.getloadavg()
    text = json.dumps(report, indent=2, default=float)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    return report


if __name__ == "__main__":
    main()
