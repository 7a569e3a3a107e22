"""ocppd: an Open Charge Point Protocol platform (CSMS, station simulator, shared protocol core)."""

__version__ = "0.1.0"
