"""Smart charging cores shared by the CSMS and the station side, all pure (no I/O, no clock).

- :mod:`ocppd.smart.schedule`: charging profiles normalised from 1.6 / 2.x and the composite
  schedule they impose (the spec's stacking rules). The station simulator enforces it; the CSMS
  computes what a station should report and compares.
- :mod:`ocppd.smart.tree`: sites, sub-circuits, stations and EVSEs with their limits; validation
  and the capacity of every node at an instant.
- :mod:`ocppd.smart.balancer`: the allocation of current to charging EVs under the limit tree.

Both ``csms/`` and ``station/`` import from here; this package imports only the standard library.
"""
