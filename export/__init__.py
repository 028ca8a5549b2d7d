"""Workstation toolchain: labelled data in, a verified edge-slm model bundle out."""
