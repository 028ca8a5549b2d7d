"""edge-slm: offline intent + slot understanding for small devices."""

__version__ = "0.1.0"

#: Highest bundle ``format`` this runtime understands.
BUNDLE_FORMAT = 1
