"""``ocppd local-controller``: a Local Controller (OCPP 2.0.1 Part 4 §6, 1.6 §3.13 Local Smart Charging).

The stations of a site connect to the controller; for each, the controller opens one connection to
the CSMS with the station's identity, path and subprotocol and relays every frame both ways as it
came, so the CSMS sees the stations as usual. Next to that it balances the group with the same
balancing service as the CSMS (``ocppd.csms.smart``), sending its own CALLs to the stations.

- :mod:`~ocppd.localctl.frames`: reading a frame's type, id and action without parsing it (pure);
- :mod:`~ocppd.localctl.relay`: one station's pair of connections, the one-CALL-at-a-time gate
  towards the station, and the controller's own calls;
- :mod:`~ocppd.localctl.observe`: what the balancer needs to know, read from the relayed traffic;
- :mod:`~ocppd.localctl.balance`: the CSMS's balancing service run over the relays;
- :mod:`~ocppd.localctl.identity`: the controller's own station connection upstream (group limit);
- :mod:`~ocppd.localctl.controller`: the process; :mod:`~ocppd.localctl.cli`: its command.
"""
