"""MediaPipe's cached tasks are closed by an exit hook, before interpreter teardown.

Left to ``__del__`` during teardown they printed ``Exception ignored ... 'NoneType' object is not callable``
tracebacks at the end of the full test run.
"""
import numpy as np
import pytest


def test_opened_tasks_are_registered_and_the_exit_hook_closes_them():
    pytest.importorskip("mediapipe", reason="needs the face extra (mediapipe), installed by `make`")
    from chunkygan.face import mediapipe_face as mf

    img = np.full((64, 64, 3), 128, np.uint8)
    mf.detect_mesh(img)
    mf.person_mask(img)
    tasks = list(mf._OPEN_TASKS)
    assert {type(t).__name__ for t in tasks} >= {"FaceLandmarker", "ImageSegmenter"}
    assert all(t._handle for t in tasks)
    mf._close_tasks()
    assert not any(t._handle for t in tasks)  # closed now, so their __del__ at teardown has nothing to do
    assert mf._OPEN_TASKS == [] and mf._landmarker.cache_info().currsize == 0
    assert mf._segmenter.cache_info().currsize == 0
