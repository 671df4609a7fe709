"""Editing: directions and banks (``directions``), discovery (``discover``), applying edits to
projections (``apply``) and fitting a code inside a mask: local projection and hole filling (``refine``)."""
