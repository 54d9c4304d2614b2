"""The version of syncline."""

__version__ = "0.1.0"
