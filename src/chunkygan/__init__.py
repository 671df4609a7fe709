"""chunkygan: real image inversion into StyleGAN-class generators by segments (ChunkyGAN), and editing.

The library reports through return values, callbacks and :mod:`logging`; it never prints.
"""

__version__ = "0.1.0"
