"""mojahub: a Mojaloop-compatible interoperable payment switch."""

__version__ = "0.1.0"
