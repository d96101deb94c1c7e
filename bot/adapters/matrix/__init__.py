"""The matrix adapter package."""
