"""Tests for `recsys.data.download` against a real local HTTP server that honours Range."""

from __future__ import annotations

import hashlib
import re
import threading
import zipfile
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from recsys.data import download_cli
from recsys.data.download import (
    ChecksumError,
    DownloadError,
    download_file,
    download_movielens,
    extract_zip,
)
from recsys.data.movielens_sets import MOVIELENS_SETS



@dataclass
class FakeServer:
    """State shared between a test and the request handler."""

    root: Path
    base_url: str = ""
    honour_range: bool = True
    requests: list[tuple[str, str | None]] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"


class _RangeHandler(BaseHTTPRequestHandler):
    """Serves files under `state.root`, answering `Range: bytes=N-` with 206 (or 416)."""

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        state = self.server.state  # type: ignore[attr-defined]
        range_header = self.headers.get("Range")
        state.requests.append((self.path, range_header))
        path = state.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404, "Not Found")
            return
        data = path.read_bytes()
        match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
        if match and state.honour_range:
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            data = data[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _make_zip(path: Path, members: dict[str, bytes]) -> bytes:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path.read_bytes()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


U_DATA = "".join(f"{u}\t{i}\t{(u * i) % 5 + 1}\t{874965758 + u * i}\n"
                 for u in range(1, 60) for i in range(1, 40)).encode()
U_ITEM = "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n".encode()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FakeServer]:
    """A ThreadingHTTPServer on 127.0.0.1 serving `tmp_path/www`, with an ml-100k zip in it."""
    root = tmp_path / "www"
    root.mkdir()
    _make_zip(root / "ml-100k.zip", {"ml-100k/u.data": U_DATA, "ml-100k/u.item": U_ITEM})
    state = FakeServer(root=root)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    httpd.state = state  # type: ignore[attr-defined]
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_full_download_verifies_and_renames(server: FakeServer, tmp_path: Path) -> None:
    data = (server.root / "ml-100k.zip").read_bytes()
    dest = tmp_path / "out" / "ml-100k.zip"
    result = download_file(server.url("ml-100k.zip"), dest, _md5(data), progress=False)
    assert result == dest
    assert dest.read_bytes() == data
    assert not dest.with_name("ml-100k.zip.part").exists()
    assert server.requests == [("/ml-100k.zip", None)]


def test_download_movielens_extracts(
    server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    md5 = _md5((server.root / "ml-100k.zip").read_bytes())
    monkeypatch.setitem(MOVIELENS_SETS, "100k", replace(MOVIELENS_SETS["100k"], md5=md5))
    out = tmp_path / "raw"
    folder = download_movielens("100k", out, base_url=server.base_url, progress=False)
    assert folder == out / "ml-100k"
    assert (folder / "u.data").read_bytes() == U_DATA
    assert sorted(p.name for p in out.iterdir()) == ["ml-100k", "ml-100k.zip"]
    # A second call finds the folder and does not touch the server.
    n_requests = len(server.requests)
    assert download_movielens("100k", out, base_url=server.base_url, progress=False) == folder
    assert len(server.requests) == n_requests


def test_resume_from_partial_file(server: FakeServer, tmp_path: Path) -> None:
    data = (server.root / "ml-100k.zip").read_bytes()
    dest = tmp_path / "ml-100k.zip"
    dest.with_name("ml-100k.zip.part").write_bytes(data[:1000])
    download_file(server.url("ml-100k.zip"), dest, _md5(data), chunk_size=512, progress=False)
    assert server.requests == [("/ml-100k.zip", "bytes=1000-")]
    assert dest.read_bytes() == data


def test_restart_when_server_ignores_range(server: FakeServer, tmp_path: Path) -> None:
    server.honour_range = False
    data = (server.root / "ml-100k.zip").read_bytes()
    dest = tmp_path / "ml-100k.zip"
    dest.with_name("ml-100k.zip.part").write_bytes(b"x" * 1000)  # would corrupt if appended to
    download_file(server.url("ml-100k.zip"), dest, _md5(data), progress=False)
    assert server.requests == [("/ml-100k.zip", "bytes=1000-")]
    assert dest.read_bytes() == data


def test_complete_partial_file_is_finished(server: FakeServer, tmp_path: Path) -> None:
    data = (server.root / "ml-100k.zip").read_bytes()
    dest = tmp_path / "ml-100k.zip"
    dest.with_name("ml-100k.zip.part").write_bytes(data)
    download_file(server.url("ml-100k.zip"), dest, _md5(data), progress=False)
    assert server.requests == [("/ml-100k.zip", f"bytes={len(data)}-")]
    assert dest.read_bytes() == data


def test_checksum_mismatch_leaves_no_file(server: FakeServer, tmp_path: Path) -> None:
    dest = tmp_path / "ml-100k.zip"
    with pytest.raises(ChecksumError) as info:
        download_file(server.url("ml-100k.zip"), dest, "0" * 32, progress=False)
    assert info.value.expected == "0" * 32
    assert info.value.actual == _md5((server.root / "ml-100k.zip").read_bytes())
    assert "0" * 32 in str(info.value) and "rerun" in str(info.value)
    assert not dest.exists() and not dest.with_name("ml-100k.zip.part").exists()


def test_pinned_md5_rejects_a_different_zip(server: FakeServer, tmp_path: Path) -> None:
    out = tmp_path / "raw"
    with pytest.raises(ChecksumError, match=MOVIELENS_SETS["100k"].md5):
        download_movielens("100k", out, base_url=server.base_url, progress=False)
    assert not (out / "ml-100k").exists() and not (out / "ml-100k.zip").exists()


def test_404_names_the_url(server: FakeServer, tmp_path: Path) -> None:
    url = server.url("missing.zip")
    with pytest.raises(DownloadError, match=re.escape(url)) as info:
        download_file(url, tmp_path / "missing.zip", None, progress=False)
    assert "404" in str(info.value)
    assert not (tmp_path / "missing.zip").exists()


def test_connection_error_names_the_url(tmp_path: Path) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    port = httpd.server_address[1]
    httpd.server_close()  # nothing listens on the port any more
    url = f"http://127.0.0.1:{port}/ml-100k.zip"
    with pytest.raises(DownloadError, match=re.escape(url)):
        download_file(url, tmp_path / "ml-100k.zip", None, timeout=5, progress=False)


def test_existing_good_file_is_not_downloaded(server: FakeServer, tmp_path: Path) -> None:
    data = (server.root / "ml-100k.zip").read_bytes()
    dest = tmp_path / "ml-100k.zip"
    dest.write_bytes(data)
    download_file(server.url("ml-100k.zip"), dest, _md5(data), progress=False)
    assert server.requests == []
    dest.write_bytes(b"stale")  # wrong MD5: fetched again
    download_file(server.url("ml-100k.zip"), dest, _md5(data), progress=False)
    assert dest.read_bytes() == data and len(server.requests) == 1


def _serve_latest_small(server: FakeServer, with_md5: bool) -> None:
    ratings = b"userId,movieId,rating,timestamp\n1,1,4.0,9\n"
    data = _make_zip(server.root / "ml-latest-small.zip", {"ml-latest-small/ratings.csv": ratings})
    if with_md5:
        (server.root / "ml-latest-small.zip.md5").write_text(
            f"MD5 (ml-latest-small.zip) = {_md5(data)}\n")


def test_latest_small_verifies_against_published_md5(server: FakeServer, tmp_path: Path) -> None:
    _serve_latest_small(server, with_md5=True)
    folder = download_movielens("latest-small", tmp_path, server.base_url, progress=False)
    assert (folder / "ratings.csv").read_text().startswith("userId,")
    assert [p for p, _ in server.requests] == ["/ml-latest-small.zip.md5", "/ml-latest-small.zip"]


def test_latest_small_without_published_md5_fails(server: FakeServer, tmp_path: Path) -> None:
    _serve_latest_small(server, with_md5=False)
    with pytest.raises(DownloadError, match=r"ml-latest-small\.zip\.md5"):
        download_movielens("latest-small", tmp_path, server.base_url, progress=False)
    assert not (tmp_path / "ml-latest-small").exists()


def test_unsafe_zip_member_is_refused(tmp_path: Path) -> None:
    zip_path = tmp_path / "evil.zip"
    _make_zip(zip_path, {"ml-100k/u.data": b"1\t1\t1\t1\n", "../evil.txt": b"pwned"})
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DownloadError, match="unsafe"):
        extract_zip(zip_path, out, "ml-100k")
    assert not (tmp_path / "evil.txt").exists() and list(out.iterdir()) == []


def test_zip_without_expected_folder(tmp_path: Path) -> None:
    zip_path = tmp_path / "x.zip"
    _make_zip(zip_path, {"other/u.data": b""})
    with pytest.raises(DownloadError, match="ml-100k/"):
        extract_zip(zip_path, tmp_path, "ml-100k")


def _run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``recsys-download ARGS`` in-process: exit code, stdout, stderr."""
    capsys.readouterr()
    code = download_cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_downloads_and_reports(server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _serve_latest_small(server, with_md5=True)
    out = tmp_path / "raw"
    code, stdout, stderr = _run_cli(capsys, "--size", "latest-small", "--output", str(out),
                                    "--base-url", server.base_url, "--no-progress")
    assert code == 0, stderr
    assert str(out / "ml-latest-small") in stdout
    assert (out / "ml-latest-small" / "ratings.csv").is_file()


def test_cli_failure_is_one_clear_line(server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, stderr = _run_cli(capsys, "--size", "latest-small", "--output", str(tmp_path),
                               "--base-url", server.base_url + "/nowhere", "--no-progress")
    assert code == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "/nowhere/ml-latest-small.zip.md5" in lines[0]
