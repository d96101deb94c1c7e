"""Platform adapters: Discord, Matrix and the console (demo)."""
