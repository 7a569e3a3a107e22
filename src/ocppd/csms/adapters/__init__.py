"""Thin per-version adapters: OCPP messages in, version-neutral domain operations, OCPP answers out."""
