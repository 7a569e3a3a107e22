"""Billing: tariffs close to OCPI 2.2 and the pure cost calculator (tariff.py, cost.py)."""
