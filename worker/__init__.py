"""Imagefill: fills in missing product images from Open Food Facts, OpenAI and image search."""

__version__ = "0.1.0"
