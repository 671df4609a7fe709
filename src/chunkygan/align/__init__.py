"""FFHQ-style face alignment and its inverse (paste-back). Landmarks need the ``face`` extra (dlib)."""
from .ffhq import FaceTransform, align_face, ffhq_quad, paste_back, warp_quad

__all__ = ["FaceTransform", "align_face", "ffhq_quad", "paste_back", "warp_quad"]
