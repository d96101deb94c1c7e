"""Haven's storage: one SQLite :class:`~bot.storage.database.Database` with transactions,
and one repository per concern in :mod:`bot.storage.repositories`.

No SQL lives outside this package (and the :mod:`bot.store` facade over it).
"""
