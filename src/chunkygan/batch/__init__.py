"""Project many images: resumable batches in one process, several images per generator call, or on Ray.

>>> # doctest: +SKIP
>>> from chunkygan.batch import project_many
>>> from chunkygan.project.projector import ProjectionConfig
>>> for r in project_many(["photos/", "@more.txt"], "out/batch", ProjectionConfig(steps=200)):
...     print(r.input, r.status, r.error or r.metrics["lpips"])
>>> # out/batch/<name>/ has the usual outputs + done.json; out/batch/results.jsonl|csv list every image

See docs/batch.md.
"""
from __future__ import annotations

from .inputs import InputListError, is_single_image, list_inputs, output_names
from .results import (DONE, SUMMARY_CSV, SUMMARY_JSONL, ImageResult, read_done, read_summary, summary_rows,
                      write_summary)
from .runner import plan, project_many

__all__ = ["project_many", "plan", "ImageResult", "list_inputs", "output_names", "is_single_image", "InputListError",
           "write_summary", "read_summary", "summary_rows", "read_done", "DONE", "SUMMARY_JSONL", "SUMMARY_CSV"]
