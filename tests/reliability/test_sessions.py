"""EditSession.save never deletes what it did not write; load refuses damaged sessions naming the entry."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from reliability_helpers import TESTS, tree_hashes

sys.path.insert(0, str(TESTS / "edit"))
from edit_tiny_generators import make_tiny_sg2  # noqa: E402

from chunkygan.edit.directions import Direction  # noqa: E402
from chunkygan.session import EditSession, SessionError  # noqa: E402


@pytest.fixture(scope="module")
def session():
    G = make_tiny_sg2()
    s = EditSession(G, torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    m = torch.zeros(1, 1, 16, 16)
    m[..., 2:10, 3:12] = 1
    s.add_region(m, name="eyes")
    s.project_region(steps=3, lr=0.05)
    s.set_edit(Direction("d", "w", torch.ones(16), G.name), 1.5)
    return s


def test_save_keeps_foreign_files_in_a_session_folder(session, tmp_path):
    folder = tmp_path / "s"
    session.save(folder)
    (folder / "my_notes.txt").write_text("mine\n")
    (folder / "renders").mkdir()
    (folder / "renders" / "a.png").write_bytes(b"x")
    foreign = {k: v for k, v in tree_hashes(folder).items() if k.startswith(("my_notes", "renders"))}
    session.save(folder)  # was: the whole folder replaced, my_notes.txt and renders/ deleted
    after = tree_hashes(folder)
    assert {k: after[k] for k in foreign} == foreign
    EditSession.load(folder, session.G)


def test_save_refuses_a_non_empty_foreign_folder(session, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"jpeg")
    before = tree_hashes(tmp_path)
    with pytest.raises(SessionError, match="not a saved session"):
        session.save(folder)
    assert tree_hashes(tmp_path) == before


def _damage(folder: Path, edit_json=None, edit_tensors=None):
    doc = json.loads((folder / "session.json").read_text())
    if edit_json:
        edit_json(doc)
        (folder / "session.json").write_text(json.dumps(doc))
    if edit_tensors:
        t = load_file(str(folder / "tensors.safetensors"))
        edit_tensors(doc, t)
        save_file(t, str(folder / "tensors.safetensors"))


def _last_layer(doc):
    return doc["states"][-1]["layers"][0]


DAMAGE = {
    "NaN code": (None, lambda d, t: t[_last_layer(d)["code"]].fill_(float("nan")), "code", "NaN"),
    "mask out of range": (None, lambda d, t: t[_last_layer(d)["mask"]].mul_(3), "mask", "outside [0, 1]"),
    "wrong code shape": (None, lambda d, t: t.__setitem__(_last_layer(d)["code"], torch.zeros(1, 3)), "code",
                         "shape"),
    "unknown tensor": (lambda d: _last_layer(d).__setitem__("mask", "t999"), None, "mask", "t999"),
    "unknown direction": (lambda d: _last_layer(d)["edits"][0].__setitem__("direction", 7), None, "direction",
                          "not a direction index"),
    "strength is text": (lambda d: _last_layer(d)["edits"][0].__setitem__("strength", "big"), None, "strength",
                         "expected a number"),
    "position out of range": (lambda d: d.__setitem__("position", 99), None, "position", "not a state index"),
    "unknown blend": (lambda d: _last_layer(d).__setitem__("blend", "magic"), None, "blend", "magic"),
    "layers not a list": (lambda d: d["states"][-1].__setitem__("layers", {"a": 1}), None, "layers",
                          "expected a list"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_load_refuses_a_damaged_session_naming_the_entry(case, session, tmp_path):
    folder = tmp_path / "s"
    session.save(folder)
    edit_json, edit_tensors, entry, why = DAMAGE[case]
    _damage(folder, edit_json, edit_tensors)
    with pytest.raises(SessionError) as e:
        EditSession.load(folder, session.G)
    msg = str(e.value)
    assert entry in msg and why in msg and "\n" not in msg, msg
