"""`chunkygan models download`: official files only on request, size and sha256 checked, nothing partial kept.

A local HTTP server on 127.0.0.1 serves a fixture; no test touches the internet."""
import hashlib
import http.server
import threading

import pytest
from click.testing import CliRunner

from chunkygan import assets
from chunkygan.assets import Download, DownloadError, download

BODY = bytes(range(256)) * 64  # 16 KiB fixture


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = BODY
        announced = len(body)
        if self.path == "/truncated.pkl":
            body = body[:1000]  # the connection closes before the announced length
        elif self.path == "/other.pkl":
            body = body[::-1]
            announced = len(body)
        elif self.path != "/good.pkl":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(announced))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CHUNKYGAN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _item(server, path="/good.pkl", sha256=None, size=None):
    return Download("fixture", server + path, "fixture.pkl", "test licence", "a fixture", 16, sha256=sha256, size=size)


def _files(cache):
    """Every entry of the cache's model folder, temporary (dot) files included."""
    return sorted(p.name for p in (cache / "models").iterdir()) if (cache / "models").exists() else []


def test_needs_the_licence_accepted_and_touches_nothing_without_it(server, cache):
    with pytest.raises(DownloadError, match="accept-licence"):
        download(_item(server))
    assert _files(cache) == []


def test_pinned_sha256_and_size_download_into_the_cache(server, cache):
    sha = hashlib.sha256(BODY).hexdigest()
    path, digest = download(_item(server, sha256=sha, size=len(BODY)), accept_licence=True)
    assert digest == sha and path.read_bytes() == BODY and path.parent == cache / "models"
    assert _files(cache) == ["fixture.pkl"]  # pinned: nothing recorded


def test_wrong_sha256_is_refused_and_leaves_no_file(server, cache):
    with pytest.raises(DownloadError, match="sha256"):
        download(_item(server, sha256="0" * 64), accept_licence=True)
    assert _files(cache) == []


def test_truncated_download_is_refused_and_leaves_no_file(server, cache):
    with pytest.raises(DownloadError, match="broke off|truncated"):
        download(_item(server, "/truncated.pkl"), accept_licence=True)
    assert _files(cache) == []
    with pytest.raises(DownloadError, match="expected"):  # a pinned size catches a short body too
        download(_item(server, "/good.pkl", size=len(BODY) + 1), accept_licence=True)
    assert _files(cache) == []


def test_unpinned_sha256_is_recorded_on_first_download_and_enforced_later(server, cache):
    path, digest = download(_item(server), accept_licence=True)
    record = cache / "models" / "fixture.pkl.sha256"
    assert record.read_text().split()[0] == digest == hashlib.sha256(BODY).hexdigest()
    with pytest.raises(DownloadError, match="recorded"):
        download(_item(server, "/other.pkl"), accept_licence=True)
    assert path.read_bytes() == BODY  # the good file stays, the wrong one was not kept
    assert _files(cache) == ["fixture.pkl", "fixture.pkl.sha256"]


def test_cli_shows_the_licence_and_refuses_without_accepting(cache, monkeypatch):
    from chunkygan.cli import main

    res = CliRunner().invoke(main, ["models", "download", "stylegan2-ada-ffhq-256"])
    assert res.exit_code != 0
    assert "NVIDIA Source Code License-NC" in res.output and "--accept-licence" in res.output
    assert _files(cache) == []
    from chunkygan.generators import load_generator

    with pytest.raises(assets.AssetError, match="not downloaded.*models download stylegan2-ada-ffhq-256"):
        load_generator("stylegan2-ada-ffhq-256")  # nothing downloads implicitly
    assert _files(cache) == []
    res = CliRunner().invoke(main, ["models", "download", "no-such-model", "--accept-licence"])
    assert res.exit_code != 0 and "stylegan2-ada-ffhq-1024" in res.output


def test_cli_download_then_generator_by_name_finds_the_file(server, cache, monkeypatch):
    from chunkygan.cli import main
    from chunkygan.generators import GENERATORS, _register_builtins

    item = Download("stylegan2-ada-ffhq-256", server + "/good.pkl", "stylegan2-ada-ffhq-256.pkl", "test licence",
                    "fixture", 256)
    monkeypatch.setattr(assets.DOWNLOADS, "_items", {**assets.DOWNLOADS._items, item.name: item})
    res = CliRunner().invoke(main, ["models", "download", item.name, "--accept-licence"])
    assert res.exit_code == 0, res.output
    assert hashlib.sha256(BODY).hexdigest() in res.output
    _register_builtins()
    # the registered generator now resolves the cached file (the fixture is no pickle, so loading it fails
    # in the checkpoint reader, not with "not downloaded")
    with pytest.raises(Exception) as e:
        GENERATORS.get(item.name).load()
    assert "not downloaded" not in str(e.value)
