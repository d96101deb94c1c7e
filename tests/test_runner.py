"""``haven run``: adapter selection, secrets from the environment, failures reported."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from bot import runner
from bot.app import load_config_text
from bot.core.errors import ConfigError, HavenError
from bot.storage.store import Store
from tests.conftest import TEST_RULES
from tests.fakes import COMMUNITY, FakePlatform, member, post

ROOT = Path(__file__).resolve().parents[1]


def config_for(platform: str, tmp_path: Path):
    extra = ("matrix: {homeserver: 'http://127.0.0.1:1', user_id: '@haven:localhost'}\n"
             if platform == "matrix" else "")
    return load_config_text(f"platform: {platform}\ndatabase: {tmp_path / 'h.db'}\n"
                            f"channels: {{moderators: mods}}\nrules: {{dir: {ROOT / 'rules'}}}\n"
                            + extra)


def test_matrix_needs_a_secret(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("HAVEN_MATRIX_TOKEN", raising=False)
    monkeypatch.delenv("HAVEN_MATRIX_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="HAVEN_MATRIX_TOKEN"):
        runner.build_adapter(config_for("matrix", tmp_path))


def test_discord_adapter_built_from_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HAVEN_DISCORD_TOKEN", "x" * 30)
    adapter = runner.build_adapter(config_for("discord", tmp_path))
    assert type(adapter).__name__ == "DiscordAdapter"


async def test_a_failing_connection_is_logged_and_exits_non_zero(tmp_path: Path, monkeypatch,
                                                                  caplog) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"platform: discord\ndatabase: {tmp_path / 'h.db'}\n"
                   f"channels: {{moderators: mods}}\nrules: {{dir: {ROOT / 'rules'}}}\n")

    class Refused:
        name = "discord"

        def attach(self, core) -> None:
            self.core = core

        async def run(self) -> None:
            raise HavenError("Discord refused the token: check HAVEN_DISCORD_TOKEN")

        async def close(self) -> None:
            pass

    monkeypatch.setattr(runner, "build_adapter", lambda config: Refused())
    with caplog.at_level(logging.ERROR):
        assert await runner.run_bot(str(cfg)) == 1
    assert "Discord refused the token" in caplog.text


class _RecordingAdapter(FakePlatform):
    """An adapter that logs in, hands the core a post to hide, then the connection ends."""

    name = "discord"

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []

    def attach(self, core) -> None:
        self.core = core

    async def run(self) -> None:
        logging.getLogger("tests.adapter").info("adapter logged in")
        self.core.mark_ready()
        await asyncio.sleep(0.05)
        self.core.submit(post("how many pills would it take", time.time(),
                              author=member("drew"), msg_id="slow1"))
        await asyncio.sleep(0.01)

    async def hide(self, ref, reason) -> None:
        await asyncio.sleep(0.3)  # a slow platform: still busy when the connection ends
        await super().hide(ref, reason)
        self.order.append("hidden")

    async def send_private(self, community_id, user_id, msg):
        ref = await super().send_private(community_id, user_id, msg)
        self.order.append("text returned")
        return ref

    async def close(self) -> None:
        self.order.append("closed")


async def test_stopping_finishes_work_before_closing_the_adapter(tmp_path: Path, monkeypatch,
                                                                 caplog) -> None:
    """Item 4: drain first, then close; the hidden post got its text back and its case."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"platform: discord\ndatabase: {tmp_path / 'h.db'}\n"
                   f"channels: {{moderators: mods}}\n"
                   f"rules: {{dir: {TEST_RULES}, helplines: {TEST_RULES / 'helplines.yaml'}}}\n")
    adapter = _RecordingAdapter()
    monkeypatch.setattr(runner, "build_adapter", lambda config: adapter)
    with caplog.at_level(logging.INFO):
        assert await runner.run_bot(str(cfg)) == 0
    assert adapter.order[0] == "hidden" and adapter.order[-1] == "closed"
    assert "text returned" in adapter.order
    store = await Store.open(tmp_path / "h.db")
    try:
        [case] = await store.cases.cases_for(COMMUNITY, "drew")
        assert case.action == "hide"
    finally:
        await store.close()
    # "running" is logged only after the adapter logged in
    messages = [r.getMessage() for r in caplog.records]
    starting = next(i for i, m in enumerate(messages) if "Haven is starting" in m)
    logged_in = messages.index("adapter logged in")
    running = next(i for i, m in enumerate(messages) if "Haven is running" in m)
    assert starting < logged_in < running


def test_missing_secret_points_at_the_platform_line_and_names_the_variable(
        tmp_path: Path, monkeypatch) -> None:
    # field report: "haven.yaml:0: platform: ..." (a line that does not exist)
    monkeypatch.delenv("HAVEN_DISCORD_TOKEN", raising=False)
    config = load_config_text(f"# Haven\ndatabase: {tmp_path / 'h.db'}\nplatform: discord\n"
                              f"channels: {{moderators: mods}}\nrules: {{dir: {ROOT / 'rules'}}}\n",
                              "haven.yaml")
    with pytest.raises(ConfigError) as err:
        runner.build_adapter(config)
    [problem] = err.value.problems
    assert str(problem).startswith("haven.yaml:3: platform: ")
    assert "environment variable HAVEN_DISCORD_TOKEN is not set" in problem.message


def test_no_platform_key_is_reported_without_a_bogus_line(tmp_path: Path) -> None:
    config = load_config_text(f"database: {tmp_path / 'h.db'}\nchannels: {{moderators: mods}}\n"
                              f"rules: {{dir: {ROOT / 'rules'}}}\n", "haven.yaml")
    with pytest.raises(ConfigError) as err:
        runner.build_adapter(config)
    assert str(err.value).startswith("haven.yaml: platform: `haven run` needs platform")


# -- several processes: shards, job scope, the metrics endpoint ------------------------------


def test_shards_from_the_command_line_go_into_the_discord_section(tmp_path: Path) -> None:
    from bot.adapters.discord.config import DISCORD_SECTION

    config = runner.with_shards(config_for("discord", tmp_path), (0, 1), 4)
    dc = config.get(DISCORD_SECTION)
    assert (dc.shard_ids, dc.shard_count) == ((0, 1), 4)
    assert config.database == str(tmp_path / "h.db")  # everything else kept
    untouched = config_for("discord", tmp_path)
    assert runner.with_shards(untouched, None, None) is untouched


@pytest.mark.parametrize(("ids", "count", "message"), [
    ((0, 4), 4, "each in 0..3"), ((1, 1), 4, "must be different"),
    ((0,), None, "needs --shard-count")])
def test_bad_shards_are_refused(tmp_path: Path, ids, count, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        runner.with_shards(config_for("discord", tmp_path), ids, count)


def test_shards_are_for_discord_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="one process per account"):
        runner.with_shards(config_for("matrix", tmp_path), (0,), 2)


def test_cli_reads_shard_options(monkeypatch) -> None:
    from bot import cli

    args = cli.build_parser().parse_args(["run", "--shard-ids", "0,1", "--shard-count", "4"])
    assert (args.shard_ids, args.shard_count) == ((0, 1), 4)
    seen = {}

    async def fake_run_bot(path, shard_ids=None, shard_count=None, metrics_listen=None) -> int:
        seen.update(path=path, ids=shard_ids, count=shard_count, listen=metrics_listen)
        return 0

    monkeypatch.setattr(runner, "run_bot", fake_run_bot)
    assert cli.main(["run", "--config", "x.yaml", "--shard-ids", "2", "--shard-count", "3",
                     "--metrics-listen", "127.0.0.1:9461"]) == 0
    assert seen == {"path": "x.yaml", "ids": (2,), "count": 3, "listen": "127.0.0.1:9461"}
    for bad in (["--shard-ids", "a,b"], ["--shard-ids", "-1"], ["--shard-count", "0"]):
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args(["run", *bad])


def test_metrics_listen_from_the_command_line(tmp_path: Path) -> None:
    from bot.core.metrics import METRICS_SECTION

    config = runner.with_metrics(config_for("discord", tmp_path), "127.0.0.1:9461")
    assert config.get(METRICS_SECTION).address() == ("127.0.0.1", 9461)
    with pytest.raises(ConfigError, match="--metrics-listen: expected host:port"):
        runner.with_metrics(config_for("discord", tmp_path), "nowhere")


def test_job_scope_comes_from_the_adapter() -> None:
    class Sharded:
        def communities(self) -> set[str]:
            return {"g1"}

    assert runner.job_scope(Sharded()) == {"g1"}  # type: ignore[arg-type]
    assert runner.job_scope(FakePlatform()) is None  # type: ignore[arg-type]


async def test_run_serves_metrics_and_readiness_while_running(tmp_path: Path,
                                                              monkeypatch) -> None:
    import socket

    from tests.test_metrics import get

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"platform: discord\ndatabase: {tmp_path / 'h.db'}\n"
                   f"channels: {{moderators: mods}}\nmetrics: {{listen: '127.0.0.1:{port}'}}\n"
                   f"rules: {{dir: {TEST_RULES}, helplines: {TEST_RULES / 'helplines.yaml'}}}\n")
    answers: dict[str, tuple[int, str]] = {}

    class Probed(FakePlatform):
        name = "discord"

        def attach(self, core) -> None:
            self.core = core

        async def run(self) -> None:
            answers["before"] = await get(port, "/readyz")
            self.core.mark_ready()
            answers["after"] = await get(port, "/readyz")
            answers["health"] = await get(port, "/healthz")
            answers["metrics"] = await get(port, "/metrics")

        async def close(self) -> None:
            pass

    monkeypatch.setattr(runner, "build_adapter", lambda config: Probed())
    assert await runner.run_bot(str(cfg)) == 0
    assert answers["before"][0] == 503 and answers["after"] == (200, "ready\n")
    assert answers["health"] == (200, "ok\n")
    assert answers["metrics"][0] == 200 and "haven_ready 1.0" in answers["metrics"][1]
    with pytest.raises(OSError):  # the endpoint is closed with the process
        await get(port, "/healthz")


def test_each_process_has_a_stable_instance_name_of_what_it_serves(tmp_path: Path) -> None:
    """Restarted, a process keeps its name (and takes back its jobs at once); processes
    running side by side (other shards, another account) never share one."""
    discord = config_for("discord", tmp_path)
    names = {runner.instance_name(runner.with_shards(discord, ids, 4)) for ids in ((0, 1), (2, 3))}
    assert len(names) == 2 and all(":discord:shards " in n for n in names)
    assert runner.instance_name(runner.with_shards(discord, (0, 1), 4)) in names  # stable
    assert runner.instance_name(discord).endswith(":discord:all shards")
    matrix = config_for("matrix", tmp_path)
    assert runner.instance_name(matrix) == runner.instance_name(config_for("matrix", tmp_path))
    assert ":matrix:" in runner.instance_name(matrix)
