"""Provides fake third-party servers for tests (importable as `fakes.*`: tests/ is on sys.path)."""
