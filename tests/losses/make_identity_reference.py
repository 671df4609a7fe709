"""Recompute the official-InsightFace reference values in tests/losses/test_identity_loss.py.

Run OUTSIDE the project (it needs opencv-python-headless) with the two official files from
https://github.com/deepinsight/insightface (python-package/insightface/model_zoo/scrfd.py and
python-package/insightface/utils/face_align.py) in one folder:

    python tests/losses/make_identity_reference.py /path/to/folder_with_scrfd_and_face_align

It runs InsightFace's own SCRFD class (640x640, threshold 0.5, NMS 0.4), its ``norm_crop`` (skimage
similarity + cv2.warpAffine) and ArcFace preprocessing (blobFromImages, swapRB) on the same ONNX files.
"""
import sys
import numpy as np, cv2, onnxruntime as ort
sys.path.insert(0, sys.argv[1])
from scrfd import SCRFD
from face_align import norm_crop
from PIL import Image
import skimage.data, matplotlib
from chunkygan import assets
det = SCRFD(str(assets.resolve('scrfd-500m-kps'))); det.prepare(-1, input_size=(640, 640))
arc = ort.InferenceSession(str(assets.resolve('arcface-w600k-mbf')), providers=['CPUExecutionProvider'])
def official(rgb):
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    dets, kps = det.detect(bgr, input_size=(640, 640))
    i = int(np.argmax((dets[:, 2] - dets[:, 0]) * (dets[:, 3] - dets[:, 1])))
    blob = cv2.dnn.blobFromImages([norm_crop(bgr, kps[i])], 1.0 / 127.5, (112, 112), (127.5,) * 3, swapRB=True)
    e = arc.run(None, {'input.1': blob})[0][0]
    return e / np.linalg.norm(e), kps[i], dets[i]
astro = skimage.data.astronaut()
hop = np.asarray(Image.open(matplotlib.get_data_path() + '/sample_data/grace_hopper.jpg').convert('RGB'))
ims = {'astronaut': astro, 'hopper': hop, 'astronaut_bright': np.clip(astro.astype(int) + 25, 0, 255).astype(np.uint8),
       'hopper_shift': np.roll(hop, (7, -5), (0, 1)), 'astronaut_flip': np.ascontiguousarray(astro[:, ::-1])}
E = {}
for k, a in ims.items():
    E[k], kps, d = official(a)
    print(k, 'kps', np.round(kps, 2).tolist(), 'box', np.round(d, 2).tolist())
for a, b in [('astronaut', 'astronaut_bright'), ('astronaut', 'astronaut_flip'), ('hopper', 'hopper_shift'), ('astronaut', 'hopper')]:
    print('sim', a, b, f"{float(E[a] @ E[b]):.4f}")
