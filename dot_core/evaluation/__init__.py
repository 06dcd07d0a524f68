"""A test set's evaluation: every image at every α against its ground truth, and the report.

Imports the engine below it (calibration, pipeline, quality, io).
"""
