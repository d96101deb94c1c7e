"""Haven: a safety and moderation bot for mental-health peer-support communities."""

__version__ = "0.1.0"
