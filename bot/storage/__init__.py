"""Haven's storage: one :class:`~bot.storage.database.Database` (SQLite or PostgreSQL) with
transactions, one repository per concern in :mod:`bot.storage.repositories`, and
:mod:`bot.storage.privacy` composing their ``mydata``/``forgetme``/retention parts.

No SQL lives outside this package; :mod:`bot.storage.store` opens it.
"""
