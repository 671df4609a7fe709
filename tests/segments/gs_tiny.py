"""Tiny random generators and a synthetic labeller for the segment-generator tests."""
import torch

from tiny_generators import tiny_dcgan, tiny_sg2  # noqa: F401 (re-exported for the G^S tests)


def colour_labeller(image, size):
    """3 classes: which of R, G, B is largest in the (resized) generated image; hard one-hot [3,1,s,s]."""
    im = torch.nn.functional.interpolate(image.float(), size=(size, size), mode="area")[0]
    return torch.nn.functional.one_hot(im.argmax(0), 3).permute(2, 0, 1).float().unsqueeze(1)
