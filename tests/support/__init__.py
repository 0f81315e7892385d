"""Reusable test helpers (loopback DFSP servers, hub runners)."""
