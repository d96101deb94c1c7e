"""Haven on Matrix: :class:`bot.adapters.matrix.adapter.MatrixAdapter` and its parts."""
