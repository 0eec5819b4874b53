"""livertrials: reproducible evidence synthesis for cell-therapy trials in liver disease."""

__version__ = "0.1.0"
