"""Test-suite root: makes the shared helpers in ``tests/_fakes.py`` importable everywhere."""
