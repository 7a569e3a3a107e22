"""The charging-station side: a station library and a simulator fleet (OCPP 1.6J, 2.0.1, 2.1)."""

from ocppd.station.fleet import Fleet, Stats
from ocppd.station.model import EV
from ocppd.station.station import Station, StationConfig
from ocppd.station.store import Store
from ocppd.station.template import TemplateError, expand, load_script, load_template

__all__ = [
    "EV", "Fleet", "Station", "StationConfig", "Stats", "Store", "TemplateError", "expand", "load_script",
    "load_template",
]  # fmt: skip
