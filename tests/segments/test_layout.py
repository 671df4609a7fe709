"""The data flow points down: segments/ never imports project/, edit/ or the drivers above them."""
import re
from pathlib import Path

import chunkygan.segments

UPWARD = re.compile(r"^\s*(from|import)\s+(\.\.(project|edit|pipelines|commands)\b|chunkygan\.(project|edit|pipelines|commands)\b)",
                    re.M)


def test_segments_never_import_upward():
    folder = Path(chunkygan.segments.__file__).parent
    offenders = {p.name: UPWARD.findall(p.read_text()) for p in folder.glob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}
    assert UPWARD.search("    from ..project.projector import Projector\n")  # the pattern can fail
