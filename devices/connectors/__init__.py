"""Connectors: how a device is reached (local subprocess, SSH, adb)."""
