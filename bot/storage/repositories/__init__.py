"""One repository per concern, each over the shared :class:`~bot.storage.database.Database`."""

from bot.storage.repositories.alerts import AlertsRepository
from bot.storage.repositories.base import Repository
from bot.storage.repositories.cases import CasesRepository
from bot.storage.repositories.digest import DigestRepository
from bot.storage.repositories.duty import DutyRepository
from bot.storage.repositories.jobs import JobsRepository
from bot.storage.repositories.kv import KeyValueRepository
from bot.storage.repositories.ledger import LedgerRepository
from bot.storage.repositories.members import MembersRepository
from bot.storage.repositories.posts import TrackedPostsRepository

__all__ = ["AlertsRepository", "CasesRepository", "DigestRepository", "DutyRepository", "JobsRepository",
           "KeyValueRepository", "LedgerRepository", "MembersRepository", "Repository",
           "TrackedPostsRepository"]
