"""The shipped default generator ``stylegan2-faces-64`` (issue #8): package data, offline, close to its teacher."""
import json

import pytest
import torch

from chunkygan.generators import default_generator_name, load_generator
from chunkygan.generators.stylegan2_faces import NAME, data_path

BAR = 0.15  # issue #8: mean LPIPS(alex) student vs teacher over 1000 held-out z


@pytest.fixture(scope="module")
def G():
    return load_generator(NAME)


@pytest.fixture(scope="module")
def meta():
    return json.loads(data_path().read_text())


def test_it_is_the_default_and_offers_every_style_space(G):
    assert default_generator_name() == NAME
    assert G.resolution == 64 and G.z_dim == 100 and G.w_dim == 256
    assert set(G.spaces) >= {"z", "w", "w+", "s"}
    assert all(p.dtype == torch.float32 for p in G.parameters())  # stored fp16, computed in fp32
    assert not any(p.requires_grad for p in G.parameters())


def test_shipped_file_is_small_half_precision_safetensors_with_its_record(meta):
    from safetensors import safe_open

    st = data_path().with_suffix(".safetensors")
    assert st.stat().st_size <= 10 * 2**20
    with safe_open(str(st), "pt") as f:  # no pickle involved
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    assert dtypes == {"F16"}
    m = meta["meta"]
    assert m["training_command"].startswith("chunkygan distill")
    assert m["teacher"] == "dcgan-faces-64" and "non-commercial" in m["licence"]
    assert m["steps"] >= 1000 and m["wall_seconds"] > 0
    assert m["held_out_lpips_alex"] <= BAR
    assert meta["architecture"] == "stylegan2"


def test_a_changed_weight_file_is_refused(tmp_path, meta):
    from chunkygan.generators.checkpoints import CheckpointError, load_checkpoint

    st = data_path().with_suffix(".safetensors")
    data = bytearray(st.read_bytes())
    data[-3] ^= 0xFF
    (tmp_path / st.name).write_bytes(bytes(data))
    (tmp_path / data_path().name).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(tmp_path / data_path().name)


def test_student_reproduces_its_teacher_on_held_out_z(G):
    """Outside reference: the DCGAN it was distilled from, on z that training never saw."""
    from chunkygan.distill import held_out_z
    from chunkygan.losses.lpips import LPIPS

    teacher = load_generator("dcgan-faces-64")
    lpips = LPIPS("alex", working_resolution=None)
    z = held_out_z(48)
    with torch.no_grad():
        s, t = G(z), teacher(z)
        matched = lpips(s, t).flatten()
        shuffled = lpips(s, t.roll(1, 0)).flatten()
    # 48 of the 1000 held-out z: their mean is within ~0.01 of the 1000-z mean reported in the README
    assert matched.mean() <= BAR + 0.015, float(matched.mean())
    # it renders *this* z's face, not an average face: the right teacher image is much closer than another
    assert (matched < shuffled).float().mean() >= 0.9
    assert matched.mean() < 0.6 * shuffled.mean()


def test_stored_mean_latent_is_the_mapped_mean_and_truncation_uses_it(G):
    z = torch.randn(20000, 100, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        w = G.mapping(z, update_w_avg=False)[:, 0]
        spread = w.std(0).norm()
        assert (w.mean(0) - G.mapping.w_avg).norm() < 0.05 * spread
        a = G(z[:2], truncation_psi=0.0)
    assert torch.allclose(a[0], a[1], atol=1e-5)  # psi = 0: every z renders the mean face


def test_package_data_patterns_ship_the_weights_in_a_wheel():
    """pyproject's package-data globs must cover every file the default generator needs."""
    import fnmatch
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python >= 3.11 (tomllib)")

    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["chunkygan"]
    pkg = data_path().parent.parent
    for f in (data_path(), data_path().with_suffix(".safetensors"), pkg / "data" / f"directions-{NAME}.safetensors"):
        rel = f.relative_to(pkg).as_posix()
        assert any(fnmatch.fnmatch(rel, p) for p in patterns), f"{rel} is not in package-data {patterns}"
