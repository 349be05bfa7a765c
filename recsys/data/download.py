"""Resumable, checksum-verified downloads of the MovieLens zips (standard library only).

`download_file` fetches any URL into `<dest>.part`, resuming with an HTTP Range request when a
partial file is there, verifies the MD5 and only then renames the part file to `dest`.
`download_movielens` downloads one official set and extracts it safely to `output/<folder>`.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from recsys.data.movielens_sets import get_movielens_set

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 1 << 20
DEFAULT_TIMEOUT = 60.0
_USER_AGENT = "recsys-downloader/0.1 (python urllib)"
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_MD5_HEX = re.compile(r"\b([0-9a-fA-F]{32})\b")


class DownloadError(RuntimeError):
    """A download or extraction failed; the message names the URL or file and the fix."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the expected MD5.

    Attributes:
        url: Where the file came from.
        expected: Expected MD5 hex digest.
        actual: MD5 hex digest of what was downloaded.
    """

    def __init__(self, url: str, dest: Path, expected: str, actual: str) -> None:
        self.url, self.expected, self.actual = url, expected, actual
        super().__init__(
            f"MD5 mismatch for {url}: expected {expected}, got {actual}; the partial file was "
            f"deleted and {dest} was not written. Fix: rerun to download again; if it keeps "
            f"failing, compare with the checksum published at {url}.md5 (the file may have been "
            f"re-released or a proxy may be altering it)"
        )


def md5_of_file(path: Path, chunk_size: int = DEFAULT_CHUNK_SIZE) -> str:
    """Returns the MD5 hex digest of a file, reading it in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with Path(path).open("rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(
    url: str,
    dest: Path,
    md5: str | None,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
) -> Path:
    """Downloads `url` to `dest`, resuming a partial `<dest>.part` and verifying the MD5.

    `dest` only ever appears complete and verified: bytes go to `<dest>.part` and are renamed
    atomically at the end. An existing `dest` with the right MD5 (or any existing `dest` when `md5`
    is None) is kept without contacting the server.

    Args:
        url: HTTP(S) URL to fetch.
        dest: Final path of the file.
        md5: Expected MD5 hex digest, or None to skip verification.
        chunk_size: Bytes read per chunk.
        timeout: Socket timeout in seconds for connecting and for each read.
        progress: Whether to show a tqdm progress bar.

    Returns:
        `dest`.

    Raises:
        DownloadError: On HTTP or connection errors; a partial file is kept for resuming.
        ChecksumError: If the MD5 does not match; the partial file is deleted.
    """
    dest = Path(dest)
    expected = md5.lower() if md5 else None
    if dest.exists():
        if expected is None or md5_of_file(dest, chunk_size) == expected:
            log.info("%s already exists, not downloading it again", dest)
            return dest
        log.warning("%s exists but its MD5 is not %s; downloading it again", dest, expected)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        _fetch_to_part(url, part, chunk_size, timeout, progress)
    except urllib.error.HTTPError as err:
        raise DownloadError(
            f"HTTP {err.code} {err.reason} while downloading {url}. Fix: check the URL (or "
            f"--base-url) and that the server is up, or download the file by hand to {dest}"
        ) from err
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        reason = getattr(err, "reason", None) or err
        raise DownloadError(
            f"could not download {url}: {reason}. Fix: check the network connection, proxy "
            f"settings and URL, then rerun; the bytes already in {part} will be resumed"
        ) from err
    if expected is not None:
        actual = md5_of_file(part, chunk_size)
        if actual != expected:
            part.unlink(missing_ok=True)
            raise ChecksumError(url, dest, expected, actual)
    os.replace(part, dest)
    return dest


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _fetch_to_part(url: str, part: Path, chunk_size: int, timeout: float, progress: bool) -> None:
    """Appends the missing bytes of `url` to `part` (restarting from 0 when it cannot resume)."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset, timeout)
    except urllib.error.HTTPError as err:
        if err.code != 416 or not offset:
            raise
        # Range not satisfiable: complete if the server's size equals what we have.
        match = re.search(r"/(\d+)", err.headers.get("Content-Range", "") if err.headers else "")
        if match and int(match.group(1)) == offset:
            return
        log.warning("cannot resume %s from byte %d; starting again", url, offset)
        offset = 0
        part.unlink()
        response = _open(url, 0, timeout)
    with response:
        if offset:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if response.status != 206 or not match or int(match.group(1)) != offset:
                log.info("server did not resume %s from byte %d; starting again", url, offset)
                offset = 0
            else:
                log.info("resuming %s from byte %d", url, offset)
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length else None
        received = 0
        with part.open("ab" if offset else "wb") as fh, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
            desc=part.name.removesuffix(".part"), disable=not progress,
        ) as bar:
            while chunk := response.read(chunk_size):
                fh.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if length is not None and received < int(length):
        raise http.client.IncompleteRead(b"", int(length) - received)


def fetch_published_md5(md5_url: str, *, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Fetches an MD5 published next to a file (`MD5 (x.zip) = <hex>` or `<hex>  x.zip`).

    Args:
        md5_url: URL of the `.md5` file.
        timeout: Socket timeout in seconds.

    Returns:
        The lower-case MD5 hex digest.

    Raises:
        DownloadError: If it cannot be fetched or holds no MD5.
    """
    fix = (
        f"Fix: check the network connection, or that the mirror given with --base-url serves "
        f"{md5_url.rsplit('/', 1)[-1]} next to the zip"
    )
    try:
        request = urllib.request.Request(md5_url, headers={"User-Agent": _USER_AGENT})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read(4096).decode("ascii", errors="replace")
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        reason = getattr(err, "reason", None) or err
        raise DownloadError(f"could not fetch the checksum {md5_url}: {reason}. {fix}") from err
    match = _MD5_HEX.search(text)
    if match is None:
        raise DownloadError(f"{md5_url} holds no MD5 digest (got {text[:80]!r}). {fix}")
    return match.group(1).lower()


def extract_zip(zip_path: Path, output: Path, folder: str) -> Path:
    """Extracts `folder/` from a zip into `output/folder`, atomically and without path traversal.

    Args:
        zip_path: The zip file.
        output: Directory that receives the folder.
        folder: Top-level folder the zip is expected to contain.

    Returns:
        `output / folder`.

    Raises:
        DownloadError: If the zip is corrupt, has unsafe member paths or lacks `folder/`.
    """
    output, target = Path(output), Path(output) / folder
    with tempfile.TemporaryDirectory(dir=output, prefix=f".{folder}-extract-") as tmp:
        try:
            with zipfile.ZipFile(zip_path) as archive:
                for name in archive.namelist():
                    path = PurePosixPath(name.replace("\\", "/"))
                    if path.is_absolute() or ".." in path.parts or re.match(r"[A-Za-z]:", name):
                        raise DownloadError(
                            f"{zip_path} has an unsafe member path {name!r}; refusing to extract "
                            f"it. Fix: delete {zip_path} and download it again from GroupLens"
                        )
                archive.extractall(tmp)
        except zipfile.BadZipFile as err:
            raise DownloadError(
                f"{zip_path} is not a valid zip ({err}). Fix: delete it and rerun the download"
            ) from err
        extracted = Path(tmp) / folder
        if not extracted.is_dir():
            raise DownloadError(
                f"{zip_path} does not contain the folder {folder}/. Fix: check that the zip is "
                f"the MovieLens release you asked for, delete it and rerun"
            )
        os.replace(extracted, target)
    return target


def download_movielens(
    size: str,
    output: Path,
    base_url: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
) -> Path:
    """Downloads, verifies and extracts one official MovieLens set.

    The zip is kept next to the extracted folder (`output/<zip_name>`) so that a rerun is free. If
    `output/<folder_in_zip>` already exists it is returned as is (extraction is atomic, so an
    existing folder is complete).

    Args:
        size: Key of `recsys.data.movielens_sets.MOVIELENS_SETS` (`100k`, `1m`, `20m`, `25m`,
            `latest-small`).
        output: Directory for the zip and the extracted folder, e.g. `data/raw`.
        base_url: Folder URL of a mirror (or test server) holding the zip and its `.md5`;
            None for GroupLens.
        timeout: Socket timeout in seconds.
        progress: Whether to show a progress bar.

    Returns:
        The extracted folder, e.g. `data/raw/ml-25m`.

    Raises:
        ValueError: If `size` is unknown.
        DownloadError: On network, checksum or extraction failures (`ChecksumError` for MD5).
    """
    spec = get_movielens_set(size).with_base_url(base_url)
    output = Path(output)
    target = output / spec.folder_in_zip
    if target.is_dir():
        log.info("%s already exists, not downloading MovieLens %s again", target, size)
        return target
    output.mkdir(parents=True, exist_ok=True)
    md5 = spec.md5 or fetch_published_md5(spec.md5_url, timeout=timeout)
    zip_path = download_file(
        spec.url, output / spec.zip_name, md5, timeout=timeout, progress=progress
    )
    return extract_zip(zip_path, output, spec.folder_in_zip)
