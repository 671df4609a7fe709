"""Malicious and broken generator checkpoints: refused with one line, nothing run, nothing written."""
from __future__ import annotations

import json
import os
import pickle
import shutil

import pytest

from reliability_helpers import assert_refused, run_cli


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _native_copy(tiny, tmp_path, name):
    shutil.copy(tiny["sg2"], tmp_path / f"{name}.safetensors")
    shutil.copy(tiny["sg2"].with_suffix(".json"), tmp_path / f"{name}.json")
    return tmp_path / f"{name}.safetensors", tmp_path / f"{name}.json"


def _rewrite_sha(st, js):
    from chunkygan.fileio import sha256_file

    cfg = json.loads(js.read_text())
    cfg["weights"]["sha256"] = sha256_file(st)
    js.write_text(json.dumps(cfg))


def _unsafe_pickle(tiny, tmp_path):
    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps({"G_ema": _Evil(tmp_path / "PWNED")}))
    return p, "refused"


def _truncated(tiny, tmp_path):
    st, js = _native_copy(tiny, tmp_path, "trunc")
    st.write_bytes(st.read_bytes()[:1000])
    return st, "sha256 differs"


def _lying_header(tiny, tmp_path):
    """A safetensors header that claims more data than the file holds (sha256 made to match)."""
    st, js = _native_copy(tiny, tmp_path, "lying")
    raw = st.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    key = next(k for k in header if k != "__metadata__")
    header[key]["data_offsets"][1] += 10_000_000
    h = json.dumps(header).encode()
    st.write_bytes(len(h).to_bytes(8, "little") + h + raw[8 + n:])
    _rewrite_sha(st, js)
    return st, "not a readable safetensors file"


def _missing_json(tiny, tmp_path):
    st, js = _native_copy(tiny, tmp_path, "nojson")
    js.unlink()
    return st, "needs nojson.json"


def _wrong_resolution(tiny, tmp_path):
    st, js = _native_copy(tiny, tmp_path, "wrongres")
    cfg = json.loads(js.read_text())
    cfg["init_kwargs"]["img_resolution"] = 32
    js.write_text(json.dumps(cfg))
    return st, "do not match"


def _unknown_name(tiny, tmp_path):
    return "no-such-generator", "unknown generator 'no-such-generator'"


CASES = {"unsafe pickle global": _unsafe_pickle, "truncated safetensors": _truncated,
         "lying safetensors header": _lying_header, "missing JSON": _missing_json,
         "wrong resolution": _wrong_resolution, "unknown generator name": _unknown_name}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("command", ["sample", "project"])
def test_broken_checkpoint_is_refused(case, command, tiny, tmp_path, sentinel):
    gen, needle = CASES[case](tiny, tmp_path)
    out = tmp_path / ("grid.png" if command == "sample" else "out")
    args = (["sample", "--seeds", "0", "-o", out] if command == "sample" else
            ["project", tiny["photo"], "-o", out, "--steps", 2, "--segments", 2, "--loss", "l2"])
    r = run_cli(*args, "--generator", gen)
    assert_refused(r, 1, needle)
    assert not (tmp_path / "PWNED").exists()  # nothing of the pickle ran
    assert not out.is_file() and not (out.is_dir() and any(out.iterdir()))
    sentinel.check()
