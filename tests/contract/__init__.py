"""Contract tests: both users-API apps, run as real servers, answer identically."""
