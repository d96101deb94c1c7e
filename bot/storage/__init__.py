"""Haven's storage: one SQLite :class:`~bot.storage.database.Database` with transactions,
one repository per concern in :mod:`bot.storage.repositories`, and
:mod:`bot.storage.privacy` composing their ``mydata``/``forgetme``/retention parts.

No SQL lives outside this package; :mod:`bot.storage.store` opens it.
"""
