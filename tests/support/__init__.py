"""Test doubles shared by the whole suite (loopback servers speaking real protocols)."""
