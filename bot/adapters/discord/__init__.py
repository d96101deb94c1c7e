"""The discord adapter package."""
