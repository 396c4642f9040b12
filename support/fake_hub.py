"""A local stand-in for the Hugging Face hub: the endpoints huggingface_hub uses to download.

- GET  /api/models/{repo}/revision/{rev}?blobs=1   model info: commit sha, files with sizes and
  hashes (LFS sha256 for large files, git blob id for small ones), as the real hub answers;
- HEAD and GET /{repo}/resolve/{rev}/{path}     the file, with X-Repo-Commit, ETag, X-Linked-Etag.

Any revision name resolves to the repo's one commit. `lie_about` makes the hub announce a wrong
sha256 for a file, to prove that the build refuses it. Requests' Authorization headers are kept,
so tests can check that a token reached the hub.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_THRESHOLD = 1024  # the real hub stores large and binary files in LFS; small text in git


@dataclass
class Repo:
    files: dict[str, bytes]
    commit: str = ""
    lie_about: set[str] = field(default_factory=set)

    def __post_init__(self):
        if not self.commit:
            self.commit = hashlib.sha1(json.dumps(sorted(self.files)).encode()).hexdigest()

    def is_lfs(self, path: str) -> bool:
        return len(self.files[path]) >= LFS_THRESHOLD

    def sha256(self, path: str) -> str:
        real = hashlib.sha256(self.files[path]).hexdigest()
        return "0" * 64 if path in self.lie_about else real

    def blob_id(self, path: str) -> str:
        data = self.files[path]
        return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()

    def etag(self, path: str) -> str:
        return self.sha256(path) if self.is_lfs(path) else self.blob_id(path)

    def info(self, repo_id: str) -> dict:
        siblings = []
        for path, data in sorted(self.files.items()):
            entry = {"rfilename": path, "size": len(data), "blobId": self.blob_id(path)}
            if self.is_lfs(path):
                entry["lfs"] = {"sha256": self.sha256(path), "size": len(data), "pointerSize": 134}
            siblings.append(entry)
        return {"id": repo_id, "modelId": repo_id, "sha": self.commit, "private": False, "siblings": siblings}


class FakeHub:
    def __init__(self, repos: dict[str, Repo], host: str = "127.0.0.1", port: int = 0):
        self.repos = repos
        self.authorizations: list[str] = []
        self.paths: list[str] = []  # every path asked for, to check which revisions were requested
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                hub._serve(self, body=False)

            def do_GET(self):
                hub._serve(self, body=True)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_port
        self.url = f"http://{host}:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _serve(self, request: BaseHTTPRequestHandler, body: bool) -> None:
        if request.headers.get("Authorization"):
            self.authorizations.append(request.headers["Authorization"])
        path = urlsplit(request.path).path  # revisions arrive quoted ("refs%2Fpr%2F1"): match, then unquote
        self.paths.append(path)
        info = re.fullmatch(r"/api/models/(.+?)/revision/([^/]+)", path)
        if info:
            repo_id = unquote(info.group(1))
            repo = self.repos.get(repo_id)
            if repo is None:
                return _reply(request, 404, b'{"error": "Repository not found"}', body)
            return _reply(request, 200, json.dumps(repo.info(repo_id)).encode(), body, "application/json")
        for repo_id, repo in self.repos.items():
            match = re.fullmatch(re.escape(f"/{repo_id}/resolve/") + r"([^/]+)/(.+)", path)
            name = unquote(match.group(2)) if match else None
            if name in repo.files:
                headers = {"X-Repo-Commit": repo.commit, "ETag": f'"{repo.etag(name)}"'}
                if repo.is_lfs(name):
                    headers["X-Linked-Etag"] = f'"{repo.sha256(name)}"'
                    headers["X-Linked-Size"] = str(len(repo.files[name]))
                return _reply(request, 200, repo.files[name], body, "application/octet-stream", headers)
        return _reply(request, 404, b'{"error": "Entry not found"}', body, extra={"X-Error-Code": "EntryNotFound"})


def _reply(request, status: int, data: bytes, body: bool, content_type="application/json", extra=None) -> None:
    request.send_response(status)
    request.send_header("Content-Type", content_type)
    request.send_header("Content-Length", str(len(data)))
    for key, value in (extra or {}).items():
        request.send_header(key, value)
    request.end_headers()
    if body:
        request.wfile.write(data)


def repos_from_model_dir(model_dir: Path, repo_id: str = "test-org/tiny-f5") -> dict[str, Repo]:
    """Publish a model written by support/random_model.py the way its files would sit on the hub."""
    manifest = json.loads((model_dir / "manifest.json").read_text())
    arch = manifest["model"]["arch"]
    config = {"model": {"backbone": "DiT", "arch": arch, "mel_spec": {"mel_spec_type": "vocos"}}}
    import yaml

    return {
        repo_id: Repo(
            files={
                "model.safetensors": (model_dir / manifest["model"]["checkpoint"]).read_bytes(),
                "config.yaml": yaml.safe_dump(config).encode(),
                "vocab.txt": (model_dir / manifest["model"]["vocab"]).read_bytes(),
            }
        ),
        "charactr/vocos-mel-24khz": Repo(
            files={name: (model_dir / "vocos" / name).read_bytes() for name in ("config.yaml", "pytorch_model.bin")}
        ),
    }


WHISPER_REPO = "openai/whisper-large-v3-turbo"


def whisper_repo(whisper_dir: Path) -> Repo:
    """A Whisper folder written by support/random_model.py, as the hub holds openai/whisper-large-v3-turbo:
    the transformers files at the top level, next to a model card and .gitattributes (never baked)."""
    files = {path.name: path.read_bytes() for path in sorted(whisper_dir.iterdir()) if path.is_file()}
    files["README.md"] = b"---\nlicense: mit\n---\n# a tiny random Whisper\n"
    files[".gitattributes"] = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
    return Repo(files=files)


def default_layout(repos: dict[str, Repo], repo_id: str = "test-org/tiny-f5") -> dict[str, Repo]:
    """Also publish the checkpoint where the default build looks: SWivid/F5-TTS, F5TTS_v1_Base/."""
    checkpoint = repos[repo_id].files["model.safetensors"]
    return {**repos, "SWivid/F5-TTS": Repo(files={"F5TTS_v1_Base/model_1250000.safetensors": checkpoint})}


if __name__ == "__main__":
    # Serve a model folder written by support/random_model.py as hub repos, until interrupted:
    #   python support/fake_hub.py MODEL_DIR [PORT]
    import sys
    import time

    repos = default_layout(repos_from_model_dir(Path(sys.argv[1])))
    hub = FakeHub(repos, port=int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    print(hub.url, flush=True)
    while True:
        time.sleep(3600)
