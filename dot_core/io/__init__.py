"""Files in and out: images (decode with clear errors, encode), PNG text chunks with provenance,
and output names that never overwrite an input.

Imports nothing from the rest of ``dot_core``.
"""
