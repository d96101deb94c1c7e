"""``haven demo``: a scripted community conversation through the real core, rule
engine and SQLite store, on virtual time, printed so a newcomer can follow it."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot import app
from bot.adapters.console import ConsolePlatform
from bot.app import load_config_text
from bot.core.clock import VirtualClock
from bot.core.commandspec import parse_command_text
from bot.core.events import (
    ButtonPressed,
    Channel,
    CommandInvoked,
    Member,
    MemberJoined,
    MessagePosted,
    MessageRef,
    Outgoing,
)
from bot.core.runtime import Haven
from bot.dashboard.config import DASHBOARD_SECTION
from bot.features.care.config import CARE_SECTION
from bot.rules.tools import default_rules_dir
from bot.storage.store import Store

COMMUNITY = "harbour"

DEMO_CONFIG = """
platform: console
database: {db}
community: {{name: Harbour, countries: [GB, US]}}
rules: {{dir: {rules}, helplines: {rules}/helplines.yaml{community}}}
channels: {{moderators: mod-alerts, welcome: welcome, rules: house-rules, nudges: peer-support-team}}
roles:
  moderators: [Moderators]
  peer_supporters: [Peer Supporters]
  greeters: [Greeters]
welcome: {{enabled: true, privately: true, first_post: greet}}
unanswered:
  remind_after: 2h
  escalate_after: 12h
  places: [support, vent]
crisis: {{signpost: privately, reescalate_after: 10m}}
content_warnings: {{labels: ["CW:", "TW:"], channels: [heavy-topics], redirect_to: heavy-topics,
                    repost: true}}
detection: {{semantic: off}}  # the rules alone, except in the scene that shows the semantic stage
digest: {{times: ["09:00", "23:00"]}}  # the evening digest closes the demo
"""

SERVE_CONFIG = """
dashboard: {{listen: "127.0.0.1:{port}", public_url: "http://127.0.0.1:{port}"}}
"""
"""``--serve``: the demo community's dashboard, on loopback only."""
SERVE_TICK = 5.0
"""While serving, virtual time moves on this often (seconds), as the wall clock does."""
LINK = re.compile(r"http://127\.0\.0\.1:\d+/login/[A-Za-z0-9_-]+")

PEOPLE = {
    "sam": "Sam", "alex": "Alex", "jo": "Jo", "priya": "Priya", "riley": "Riley",
    "casey": "Casey", "drew": "Drew", "kit": "Kit", "mo": "Mo (moderator)",
    "lee": "Lee (moderator)",
}


class Demo:
    """Drives the scripted community and prints what happens."""

    def __init__(self, root: Path, fast: bool = True, serve: int | None = None) -> None:
        self.root = root
        self.fast = fast
        self.serve_port = serve
        """``haven demo --serve PORT``: keep running with the dashboard on this port."""
        self.served_link: str | None = None
        self.clock = VirtualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp())
        self._ids = itertools.count(1)
        self.members = {uid: Member(id=uid, name=name.split(" ")[0],
                                    roles=frozenset({"Moderators"} if "moderator" in name else
                                                    {"Peer Supporters"} if uid == "priya" else ()),
                                    joined_at=self.clock.now() - 90 * 86400,
                                    # --serve: Lee runs the server, so the Rules page lets
                                    # them edit the community's own rule file
                                    is_admin=serve is not None and uid == "lee")
                        for uid, name in PEOPLE.items()}
        self.platform = (ConsolePlatform(names=PEOPLE) if serve is None
                         else ServedConsole(self.members, names=PEOPLE))
        community = "" if serve is None else f", community: {root / 'community-rules.yaml'}"
        text = DEMO_CONFIG.format(db=root / "haven-demo.db", rules=default_rules_dir(),
                                  community=community)
        if serve is not None:
            text += SERVE_CONFIG.format(port=serve)
        self.config = load_config_text(text, "demo-config.yaml")
        self.core: Haven | None = None

    async def start(self, catch_up: Sequence[tuple[str, str, str, MessageRef | None, float]] = ()) -> None:
        """(Re)start the core on the same database, as after a restart.

        ``catch_up`` lists messages posted while Haven was down (who, where, text,
        reply_to, when): adapters deliver these before overdue timers run.
        """
        store = await Store.open(self.config.database)
        self.core = await app.create(self.config, self.platform, self.clock, store)
        await self.core.start(run_scheduler=False)
        for who, where, text, reply_to, at in catch_up:
            print(f"  📥 caught up: {PEOPLE[who]} replied in #{where} while Haven was down: “{text}”")
            ref = MessageRef(COMMUNITY, where, f"m{next(self._ids)}")
            await self.core.handle(MessagePosted(
                COMMUNITY, at, channel=Channel(id=where, name=where), author=self.members[who],
                message=ref, text=text, link=f"https://chat.example/{where}/{ref.message_id}",
                reply_to=reply_to.message_id if reply_to else None))
        await self.core.scheduler.run_due()
        await self.core.drain()

    async def stop(self) -> None:
        """Stop the core (the store is closed, as in a real shutdown)."""
        assert self.core is not None
        await self.core.stop()
        self.core = None

    def scene(self, title: str, why: str) -> None:
        """Print a scene heading with the virtual time."""
        when = datetime.fromtimestamp(self.clock.now(), UTC).strftime("%a %H:%M")
        print(f"\n\033[1m━━ {when} │ {title}\033[0m")
        print(f"   \033[2m{why}\033[0m")

    async def say(self, who: str, where: str, text: str, *, reply_to: MessageRef | None = None,
                  edit_of: MessageRef | None = None, spoilered: bool = False) -> MessageRef:
        """A member posts (or edits) a message."""
        assert self.core is not None
        chan = Channel(id=where, name=where)
        ref = edit_of or MessageRef(COMMUNITY, where, f"m{next(self._ids)}")
        verb = "edits their post" if edit_of else ("replies" if reply_to else "posts")
        print(f"  💬 {PEOPLE[who]} {verb} in #{where}: “{text}”")
        await self.core.handle(MessagePosted(
            COMMUNITY, self.clock.now(), channel=chan, author=self.members[who], message=ref,
            text=text, link=f"https://chat.example/{where}/{ref.message_id}",
            reply_to=reply_to.message_id if reply_to else None, edited=edit_of is not None,
            spoilered=spoilered))
        return ref

    async def join(self, who: str) -> None:
        """A member joins."""
        assert self.core is not None
        print(f"  👋 {PEOPLE[who]} joins the server")
        self.members[who] = Member(id=who, name=PEOPLE[who], joined_at=self.clock.now())
        await self.core.handle(MemberJoined(COMMUNITY, self.clock.now(), member=self.members[who]))

    async def command(self, who: str, line: str, where: str = "mod-alerts") -> None:
        """A member runs a command (as a slash command or ``!haven ...``)."""
        assert self.core is not None
        spec, options = parse_command_text(line, self.core.services.commands)
        print(f"  ⌨️  {PEOPLE[who]} runs /{line}")
        result = await self.core.handle(CommandInvoked(
            COMMUNITY, self.clock.now(), channel=Channel(id=where, name=where),
            invoker=self.members[who], name=spec.name, options=options))
        assert result is not None
        visibility = "only they see" if result.ephemeral else "everyone sees"
        print(f"  🤖 Haven answers ({visibility}):")
        for line_ in result.text.splitlines():
            print(f"     │ {line_}")
        for a in result.attachments:
            path = Path(tempfile.gettempdir()) / a.filename
            path.write_bytes(a.data)
            print(f"     │ [chart attached: {a.filename}, saved to {path}]")

    async def semantic_scene(self) -> None:
        """The semantic stage catches what no word list holds (skipped without a shipped head)."""
        from bot.detection.stage import SemanticStage

        assert self.core is not None
        stage = SemanticStage.default()
        if stage is None:
            return
        self.scene("Meaning, not only words: the semantic stage",
                   "No word of these posts is in a rule, yet one is an urgent goodbye (moderators "
                   "are pinged, with the closest labelled examples as the reason) and one a "
                   "passive wish (a quiet check-in note).")
        self.core.triage.semantic = stage
        await self.say("jo", "general", "gave my guitar to my cousin today and wrote everyone "
                       "letters. after friday none of this will matter")
        await self.say("kit", "vent", "every morning i wake up disappointed that i did")
        await self.command("lee", "rules test gave my guitar to my cousin today and wrote "
                           "everyone letters. after friday none of this will matter")
        self.core.triage.semantic = None  # the rest of the demo shows the rules alone

    async def details_scene(self) -> None:
        """Identifying details add up across posts: the third kind brings one private note."""
        self.scene("Identifying details add up", "A name here, a school there, a town later: "
                   "none identifies Alex alone, together they could. Haven stores only the "
                   "kinds (never the text) and, at the third kind within 30 days, sends Alex "
                   "one private, kind note; the moderators' review digest gets the kinds.")
        await self.say("alex", "general", "thanks all, my name is Alex Morgan by the way")
        await self.wait(3 * 3600, "3 hours pass")
        await self.say("alex", "general", "I go to Kingsbridge College and exams start next week")
        await self.wait(26 * 3600, "a day passes")
        await self.say("alex", "general", "I live in Tadcaster so the last bus is at 10, ugh")

    async def press(self, who: str, action: str, alert_id: int) -> None:
        """A moderator presses Claim or Resolve on an alert."""
        assert self.core is not None
        print(f"  🖱️  {PEOPLE[who]} presses [{action.capitalize()} #{alert_id}]")
        result = await self.core.handle(ButtonPressed(
            COMMUNITY, self.clock.now(), channel=Channel(id="mod-alerts", name="mod-alerts"),
            member=self.members[who], action=action, alert_id=alert_id))
        assert result is not None
        print(f"  🤖 Haven answers (only they see): {result.text}")

    async def digest_scene(self) -> None:
        """The evening review digest: what was flagged and did not alert, to work through."""
        self.scene("The review digest", "Twice a day moderators get one list of what was "
                   "flagged but did not alert, with links and never the text, and mark it done. "
                   "Members can report a post privately.")
        await self.command("alex", "report https://chat.example/general/m11 they keep "
                           "messaging me privately", where="general")
        await self.wait(50 * 60, "50 minutes pass: 23:00, time for the evening digest")
        await self.press("lee", "reviewed", 1)
        await self.command("lee", "reviewed all")

    async def wait(self, seconds: float, label: str) -> None:
        """Let virtual time pass, running timers as they fall due."""
        assert self.core is not None
        print(f"  ⏳ {label}")
        await self.core.advance(seconds)
        if not self.fast:
            await asyncio.sleep(0.5)

    async def run(self) -> None:
        """The whole script."""
        print("\033[1mHaven demo\033[0m: a day in the life of “Harbour”, a peer-support server.")
        print("Everything below runs through Haven's real core, rule engine and SQLite store;")
        print("only the chat platform is replaced by this console, and time is virtual.")
        await self.start()

        self.scene("A warm first contact", "Newcomers get the house rules and an invitation; "
                   "their first post is greeted.")
        await self.join("sam")
        await self.say("sam", "introductions", "hi everyone, I'm Sam. Found this place last night.")
        self.platform.closed_dms.add("riley")
        await self.join("riley")

        self.scene("Moderators start their shift", "On-duty moderators are mentioned first, "
                   "so one person doesn't carry every alert.")
        await self.command("mo", "duty on")

        self.scene("Support posts are watched for replies",
                   "About half of people don't come back without a reply in 24 h.")
        alex = await self.say("alex", "support", "Does anyone have tips for getting through the "
                              "nights? My anxiety is worst around 3am.")
        await self.say("sam", "support", "is it normal to feel numb on new meds? week 2 of "
                       "sertraline")
        jo = await self.say("jo", "support", "First week back at work after burnout, feeling shaky.")
        await self.wait(40 * 60, "40 minutes pass")
        await self.say("priya", "support", "Jo, that first week is so hard. Be gentle with "
                       "yourself; what helped me was short walks at lunch.", reply_to=jo)

        self.scene("Someone in crisis is supported and escalated, never punished",
                   "The alert goes only to the private moderators' channel; the member gets "
                   "helplines for their country. Nothing is deleted.")
        casey = await self.say("casey", "vent", "i cant do this anymore. i want to k1ll mys3lf "
                               "tonight")
        await self.say("casey", "vent", "nobody would even notice if i was gone")
        await self.wait(10 * 60, "10 minutes pass and nobody has claimed the alert")
        await self.press("mo", "claim", 1)
        await self.say("mo", "vent", "Casey, I'm here and I've read what you wrote. I'm going to "
                       "message you now.", reply_to=casey)

        self.scene("Method details are hidden, kindly",
                   "Posts with means or how-to are dangerous to readers. The author gets their "
                   "text back, support, and an explanation.")
        await self.say("drew", "vent", "how many pills would it take to overdose? asking for "
                       "real")

        self.scene("Hostility is hidden, warned and logged", "Consistent, explained enforcement "
                   "is seen as fair.")
        kit = await self.say("kit", "general", "honestly I think things are getting better")
        await self.say("riley", "general", "nobody cares, kys", reply_to=kit)

        self.scene("Personal details stay out of public posts", "Identifying information can "
                   "leak across posts: phone numbers are hidden (and returned), clinicians' "
                   "names get a gentle nudge.")
        await self.say("sam", "general", "my psychiatrist Dr. Patel said I could call her on "
                       "07700 900123 if it gets bad")

        await self.semantic_scene()

        self.scene("Content-warning channels", "Warnings before distressing content protect "
                   "readers; nothing the author wrote is lost.")
        await self.say("kit", "heavy-topics", "had a relapse last night and cut again, feeling "
                       "ashamed")
        await self.say("kit", "heavy-topics", "CW: self-harm. had a relapse last night, feeling "
                       "ashamed but I'm safe now")
        await self.say("jo", "general", "does anyone else have scars from self-harm they hide "
                       "at work?")
        msg = await self.say("sam", "general", "long day, going to make some tea")
        await self.say("sam", "general", "long day. the purging has started again after every "
                       "meal", edit_of=msg)

        self.scene("Time passes: unanswered posts get nudges",
                   "Peer supporters are nudged after 2 h, moderators after 12 h.")
        await self.wait(80 * 60, "80 more minutes pass (Alex has waited 2 h)")
        await self.command("lee", "unanswered")

        self.scene("Haven restarts", "Timers live in the store: after downtime each due "
                   "reminder fires once, never twice.")
        await self.stop()
        print("  🔌 Haven stops for an upgrade; 11 hours pass while it is down")
        down_at = self.clock.now()
        self.clock.set(down_at + 11 * 3600)
        await self.start(catch_up=[("priya", "support", "Alex, 3am is the worst. I keep a "
                                    "boring podcast ready and it helps a bit.", alex,
                                    down_at + 3 * 3600)])
        print("  🔌 Haven is back: Alex's post was answered meanwhile, so only Sam's "
              "still-unanswered post was escalated, once")

        self.scene("Moderator tools", "Permission checks happen in the core; commands work the "
                   "same on Discord and Matrix.")
        await self.command("sam", "alerts", where="general")
        await self.command("lee", "alerts")
        await self.command("mo", "resolve 1 called Casey; they're safe with their sister "
                           "tonight")
        await self.command("lee", "rules test I want to end my life")
        await self.command("lee", "rules test this homework is killing me")
        await self.command("lee", "history riley")
        await self.command("sam", "resources", where="general")
        await self.command("mo", "handover Casey (alert 1) checked in, follow up tomorrow. "
                           "Quiet otherwise.")
        await self.command("mo", "duty off")
        await self.command("lee", "handover")
        await self.command("lee", "stats 7")
        await self.digest_scene()
        await self.details_scene()
        if self.serve_port is not None:
            await self.serve(self.serve_port)
        await self.stop()
        print("\nThat's Haven. Configure it in config.yaml, write rules in rules/*.yaml, and "
              "run it with `haven run`.")


    async def serve(self, port: int) -> None:
        """Keep the community running with the dashboard on 127.0.0.1:``port`` and sign a
        demo moderator in by the real command, until Ctrl-C. Virtual time follows the
        wall clock meanwhile, so reminders and digests still fall due."""
        from bot.dashboard.server import Dashboard

        assert self.core is not None and isinstance(self.platform, ServedConsole)
        dashboard = Dashboard(self.core, self.config.get(DASHBOARD_SECTION),
                              excerpts_default=self.config.get(CARE_SECTION).excerpts)
        await dashboard.start()
        self.scene("The dashboard", "Moderators sign in with a private one-time link and can "
                   "handle a whole shift from a browser or a phone.")
        sent = len(self.platform.sent_links)
        await self.command("lee", "dashboard")
        self.served_link = next(iter(self.platform.sent_links[sent:]), None)
        print(f"  🌐 The dashboard is at http://127.0.0.1:{port}/ : open Lee's link above to "
              "sign in (it works once, within 10 minutes). Ctrl-C ends the demo.")
        try:
            while True:
                await asyncio.sleep(SERVE_TICK)
                await self.core.advance(SERVE_TICK)
        except asyncio.CancelledError:
            print("\n  🛑 Ctrl-C: the dashboard stops")
        finally:
            await dashboard.stop()


class ServedConsole(ConsolePlatform):
    """The console platform that also knows the demo's roles (``--serve``: the dashboard
    checks on every request that Lee is still a moderator) and keeps the links it sent."""

    def __init__(self, members: dict[str, Member], names: dict[str, str]) -> None:
        super().__init__(names=names)
        self.members = members
        self.sent_links: list[str] = []

    async def resolve_member(self, community_id: str, query: str) -> Member | None:
        """The console's answer, with the demo member's roles."""
        found = await super().resolve_member(community_id, query)
        known = self.members.get(found.id) if found is not None else None
        return (dataclasses.replace(found, roles=known.roles, is_admin=known.is_admin)
                if found and known else found)

    async def send_private(self, community_id: str, user_id: str, msg: Outgoing) -> MessageRef:
        """Printed as always; a dashboard link in it is kept for :attr:`Demo.served_link`."""
        self.sent_links += LINK.findall(msg.text)
        return await super().send_private(community_id, user_id, msg)


async def run_demo(fast: bool = True, serve: int | None = None) -> int:
    """Run the demo in a temporary directory; returns an exit code. With ``serve``, keep
    it running with the dashboard on that port until Ctrl-C."""
    with tempfile.TemporaryDirectory(prefix="haven-demo-") as tmp:
        demo = Demo(Path(tmp), fast=fast, serve=serve)
        await demo.run()
    return 0
