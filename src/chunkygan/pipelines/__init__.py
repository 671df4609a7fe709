"""Drivers that combine stages (segments -> project -> edit) for the CLI and the app.

The stages below (``segments/``, ``project/``, ``edit/``) never import from here; this package sits
above them on the data flow (see the architecture guide):

* :mod:`chunkygan.pipelines.auto` — the paper's fully automatic mode: ``G^S`` masks optimised jointly
  with the codes (:func:`~chunkygan.pipelines.auto.auto_projector`), the default-mode decision
  (:func:`~chunkygan.pipelines.auto.choose_masks`), edits that move ``X^S`` and the Fig. 3 progression.
* :mod:`chunkygan.pipelines.demo` — the README demo (global vs k-means vs the default mode, same budget).
"""
