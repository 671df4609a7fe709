"""EditSession: layered local edits, undo/redo, hole filling, lossless atomic save/load."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent / "edit"))
from edit_tiny_generators import make_tiny_sg2  # noqa: E402

from chunkygan.edit.directions import Direction  # noqa: E402
from chunkygan.session import EditSession, SessionError  # noqa: E402



@pytest.fixture(scope="module")
def G():
    return make_tiny_sg2()


def _photo(R=16):
    g = torch.Generator().manual_seed(0)
    return (torch.rand(1, 3, R, R, generator=g) * 2 - 1)


def _region(r0, r1, c0, c1, R=16):
    m = torch.zeros(1, 1, R, R)
    m[..., r0:r1, c0:c1] = 1
    return m


def _session(G):
    s = EditSession(G, _photo(), space="w+")
    s.add_region(_region(2, 10, 3, 12), name="eyes")
    s.project_region(steps=5, lr=0.05)
    return s


def test_local_layer_changes_only_its_region_and_undo_is_identical(G):
    s = _session(G)
    photo = _photo()
    out0 = s.render()
    outside = _region(2, 10, 3, 12)[0, 0] == 0
    assert torch.equal(out0[0][:, outside], photo[0][:, outside])
    d = Direction("d", "w", torch.ones(16), G.name)
    s.set_edit(d, 2.0)
    out1 = s.render()
    assert torch.equal(out1[0][:, outside], photo[0][:, outside])
    assert (out1 - out0).abs().max() > 0.01
    s.undo()
    assert torch.equal(s.render(), out0)
    s.redo()
    assert torch.equal(s.render(), out1)
    s.set_edit(d, 0.0)  # strength 0 removes the edit: the projection exactly
    assert torch.equal(s.render(), out0)
    assert s.history == ["load", "add eyes", "project eyes", "edit eyes: d=2", "edit eyes: d=0"]


def test_failed_step_changes_nothing(G):
    s = _session(G)
    before = (s.position, s.render())
    with pytest.raises(Exception):
        s.set_edit(Direction("z", "z", torch.ones(16), G.name), 1.0)  # a Z direction cannot move W+ codes
    with pytest.raises(SessionError, match="layer 5"):
        s.set_edit(Direction("d", "w", torch.ones(16), G.name), 1.0, index=5)
    with pytest.raises(SessionError, match="empty"):
        s.add_region(torch.zeros(16, 16))
    assert s.position == before[0] and torch.equal(s.render(), before[1])
    with pytest.raises(SessionError, match="redo"):
        s.redo()


def test_commit_repeat_fill_save_load_bit_identical(G, tmp_path):
    s = _session(G)
    d = Direction("d", "w", torch.linspace(-1, 1, 16), G.name, scale=0.5)
    s.set_edit(d, 1.5, layers=(0, 2))
    s.commit()
    assert s.layers == ()
    s.add_region(_region(8, 14, 2, 8), name="mouth", blend="poisson")
    s.project_region(steps=3)
    s.set_edit(d, -1.0)
    s.fill_hole(_region(6, 9, 2, 10)[0, 0], steps=3)
    s.undo()  # keep a redo branch in the saved file
    renders = []
    for i in range(len(s.history)):
        renders.append(s.render(state=s._history[i]))
    folder = s.save(tmp_path / "sess")
    assert (folder / "current.png").is_file()
    t = EditSession.load(folder, G)
    assert t.history == s.history and t.position == s.position
    for i in range(len(t.history)):
        assert torch.equal(t.render(state=t._history[i]), renders[i])
    t.redo()
    s.redo()
    assert torch.equal(t.render(), s.render())
    # saving again over the folder replaces it atomically
    t.undo()
    t.save(folder)
    assert EditSession.load(folder, G).position == t.position
    assert not any(p.name.startswith(".sess") for p in tmp_path.iterdir())


def test_load_refuses_other_generator_and_non_sessions(G, tmp_path):
    s = _session(G)
    s.save(tmp_path / "a")
    other = make_tiny_sg2(seed=5, name="other")
    with pytest.raises(SessionError, match="'tiny-sg2', not 'other'"):
        EditSession.load(tmp_path / "a", other)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "x.txt").write_text("mine")
    with pytest.raises(SessionError, match="not a saved session"):
        s.save(tmp_path / "notes")
    assert (tmp_path / "notes" / "x.txt").read_text() == "mine"
    with pytest.raises(SessionError, match="not a saved session"):
        EditSession.load(tmp_path / "notes", G)


def test_from_file_resizes_to_generator(G, tmp_path):
    from chunkygan.imageio import save_image

    save_image(torch.zeros(1, 3, 40, 32), tmp_path / "p.png")
    s = EditSession.from_file(G, tmp_path / "p.png")
    assert s.state.base.shape == (1, 3, 16, 16)
    with pytest.raises(SessionError, match="offers spaces"):
        EditSession(G, torch.zeros(1, 3, 16, 16), space="q")


def test_automatic_projection_uses_the_editing_recipe_unless_told_otherwise(G, monkeypatch):
    import chunkygan.project.projector as projector

    seen = []
    real = projector.Projector

    def spy(G_, target, cfg, **kw):
        seen.append(cfg)
        return real(G_, target, cfg, **kw)

    monkeypatch.setattr(projector, "Projector", spy)
    s = EditSession(G, _photo(), space="w+")
    s.project_auto(segments=2, steps=2, loss="l2")
    assert seen[-1].lambda_reg == projector.EDITING_RECIPE["lambda_reg"] > 0
    assert seen[-1].lambda_prior == projector.EDITING_RECIPE["lambda_prior"] > 0
    s.project_auto(segments=2, steps=2, loss="l2", lambda_prior=0.0)
    assert seen[-1].lambda_prior == 0.0 and len(s.layers) == 4
