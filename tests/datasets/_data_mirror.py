"""A real HTTP mirror on 127.0.0.1 for the data tests.

The mirror is the standard library's HTTP server in a thread, serving a temporary directory laid
out as ``{repo}/{commit}/{path}`` (the raw.githubusercontent.com layout) with copies of the real
reference files. Faults can be queued per URL path: an HTTP status (with headers) or ``"drop"``
(send half the body, then close the connection).
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from safetylens.datasets.registry import DatasetInfo, get_dataset

Fault = tuple[int, dict[str, str]] | str


class MirrorServer(ThreadingHTTPServer):
    daemon_threads = True
    faults: dict[str, list[Fault]]
    hits: Counter[str]


class MirrorHandler(SimpleHTTPRequestHandler):
    server: MirrorServer

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self.server.hits[path] += 1
        queue = self.server.faults.get(path)
        if queue:
            fault = queue.pop(0)
            if fault == "drop":
                body = Path(self.translate_path(self.path)).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            assert isinstance(fault, tuple)
            code, headers = fault
            self.send_response(code)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()


@dataclass
class Mirror:
    """A running mirror: ``url`` is its base URL, ``root`` the directory it serves."""

    url: str
    root: Path
    server: MirrorServer
    shared: Path
    served: list[str] = field(default_factory=list)

    def add(self, dataset_id: str) -> DatasetInfo:
        """Lay out every file of a data set (copied from the reference mirror) as GitHub raw would."""
        info = get_dataset(dataset_id)
        for f in info.files:
            dest = self.file_path(info, f.path)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.shared / f.path, dest)
        return info

    def file_path(self, info: DatasetInfo, path: str) -> Path:
        """Where the mirror keeps a registered file."""
        f = info.file(path)
        repo, commit = info.source_of(f)
        return self.root / repo / commit / f.source_path

    def url_path(self, info: DatasetInfo, path: str) -> str:
        """The URL path the mirror serves a registered file at."""
        f = info.file(path)
        repo, commit = info.source_of(f)
        return f"/{repo}/{commit}/{f.source_path}"

    def fail(self, info: DatasetInfo, path: str, *faults: Fault) -> None:
        """Queue faults for the next requests of a file."""
        self.server.faults.setdefault(self.url_path(info, path), []).extend(faults)

    def hits(self, info: DatasetInfo, path: str) -> int:
        """How many GET requests the file received."""
        return self.server.hits[self.url_path(info, path)]
