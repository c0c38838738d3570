"""Translations between the wire formats of the APIs the gateway speaks."""
