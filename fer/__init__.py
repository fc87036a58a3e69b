"""Real-time facial expression recognition trained on FER2013."""

__version__ = "0.1.0"
