"""The ``edge-slm`` command and its sub-commands."""
