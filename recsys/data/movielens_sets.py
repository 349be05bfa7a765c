"""The official GroupLens MovieLens releases that `recsys` knows how to download and read.

Each entry records where the zip lives, its MD5 (as published by GroupLens in `<url>.md5`), the
folder the zip extracts to and the file format, so that `recsys.data.download` and
`recsys.data.readers` need no per-set branching.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

GROUPLENS_BASE_URL = "https://files.grouplens.org/datasets/movielens"

MovieLensFormat = Literal["csv", "dat", "ml100k"]


@dataclass(frozen=True)
class MovieLensSet:
    """One downloadable MovieLens release.

    Attributes:
        name: Short key used on the command line (`100k`, `1m`, `20m`, `25m`, `latest-small`).
        url: Official download URL of the zip.
        md5: Expected MD5 hex digest of the zip, or None for a set that GroupLens re-releases
            (then the digest published next to the zip, `<url>.md5`, is fetched and used).
        size_bytes: Size of the zip in bytes where it is fixed and known, else None. Informative
            only (used for progress bars when the server sends no Content-Length).
        folder_in_zip: Top-level folder the zip extracts to, e.g. `ml-100k`.
        format: File layout: `csv` (`ratings.csv`, ... with a header), `dat` (`::`-separated,
            Latin-1) or `ml100k` (`u.data`, `u.item`, ...). Matches a reader in
            `recsys.data.readers`.
    """

    name: str
    url: str
    md5: str | None
    size_bytes: int | None
    folder_in_zip: str
    format: MovieLensFormat

    @property
    def zip_name(self) -> str:
        """File name of the zip, e.g. `ml-100k.zip`."""
        return self.url.rsplit("/", 1)[-1]

    @property
    def md5_url(self) -> str:
        """URL of the MD5 file GroupLens publishes next to the zip."""
        return f"{self.url}.md5"

    def with_base_url(self, base_url: str | None) -> MovieLensSet:
        """Returns a copy that downloads from a mirror (or a test server) instead of GroupLens.

        Args:
            base_url: URL of the folder holding the zip (and its `.md5`), or None to keep the
                official URL.

        Returns:
            The same set with `url` pointing at `<base_url>/<zip_name>`.
        """
        if base_url is None:
            return self
        return replace(self, url=f"{base_url.rstrip('/')}/{self.zip_name}")


# MD5s of the fixed releases agree with the `.md5` files GroupLens publishes and with many
# independent projects that pin them. ml-latest-small is re-released in place, so it has none.
MOVIELENS_SETS: dict[str, MovieLensSet] = {
    "100k": MovieLensSet(
        name="100k",
        url=f"{GROUPLENS_BASE_URL}/ml-100k.zip",
        md5="0e33842e24a9c977be4e0107933c0723",
        size_bytes=4_924_029,
        folder_in_zip="ml-100k",
        format="ml100k",
    ),
    "1m": MovieLensSet(
        name="1m",
        url=f"{GROUPLENS_BASE_URL}/ml-1m.zip",
        md5="c4d9eecfca2ab87c1945afe126590906",
        size_bytes=None,
        folder_in_zip="ml-1m",
        format="dat",
    ),
    "20m": MovieLensSet(
        name="20m",
        url=f"{GROUPLENS_BASE_URL}/ml-20m.zip",
        md5="cd245b17a1ae2cc31bb14903e1204af3",
        size_bytes=198_702_078,
        folder_in_zip="ml-20m",
        format="csv",
    ),
    "25m": MovieLensSet(
        name="25m",
        url=f"{GROUPLENS_BASE_URL}/ml-25m.zip",
        md5="6b51fb2759a8657d3bfcbfc42b592ada",
        size_bytes=261_978_986,
        folder_in_zip="ml-25m",
        format="csv",
    ),
    "latest-small": MovieLensSet(
        name="latest-small",
        url=f"{GROUPLENS_BASE_URL}/ml-latest-small.zip",
        md5=None,
        size_bytes=None,
        folder_in_zip="ml-latest-small",
        format="csv",
    ),
}


def get_movielens_set(size: str) -> MovieLensSet:
    """Looks up a set by its short name.

    Args:
        size: One of the keys of `MOVIELENS_SETS`.

    Returns:
        The matching `MovieLensSet`.

    Raises:
        ValueError: If `size` is unknown; the message lists the known names.
    """
    try:
        return MOVIELENS_SETS[size]
    except KeyError:
        known = ", ".join(MOVIELENS_SETS)
        raise ValueError(f"unknown MovieLens set {size!r}; choose one of: {known}") from None
