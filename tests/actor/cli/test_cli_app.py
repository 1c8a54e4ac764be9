"""The command itself: the entry points, --help with examples on every verb, usage errors,
and the variations of bad input beyond the ones test_cli_db_verbs runs as subprocesses.

These call ``main(argv)`` in-process — the same function the console script runs — so they
cost no interpreter start; ``--version`` goes through both real entry points.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import anyio
import click
import pytest
from _cli import SOMA, Recorded, clean_env, events_of

import soma_actor.cli.status as status_module
from soma_actor.cli import main
from soma_actor.cli._app import COMMANDS, SUMMARIES, cli
from soma_runtime import Runtime, Step, __version__, open_event_log
from soma_runtime.vitals import DEFAULT_BASELINES, VitalsConfig

VERBS = [
    *("serve", "status", "statusline", "replay", "outcomes", "lessons", "trace", "export", "check"),
    *("cancel", "run", "ask", "demo", "dashboard", "init", "hook"),
]


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version_through_both_entry_points() -> None:
    script = shutil.which("soma", path=str(Path(sys.executable).parent))
    assert script is not None, "the console script is installed"
    commands = [[*SOMA, "--version"], [script, "-V"]]
    import subprocess

    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, text=True, env=clean_env()) for c in commands]
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert (proc.returncode, out) == (0, f"soma {__version__}\n")


def test_every_verb_has_help_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert sorted(COMMANDS) == sorted(VERBS) == sorted(SUMMARIES)
    code, top, _ = run_main(capsys, "--help")
    assert code == 0 and "Examples:" in top
    for verb in VERBS:
        assert f"  {verb} " in top, verb
        code, out, err = run_main(capsys, verb, "--help")
        assert code == 0, (verb, err)
        command = cli.get_command(click.Context(cli), verb)
        assert command is not None and command.short_help == SUMMARIES[verb], "soma --help says the same"
        assert out.startswith(f"Usage: soma {verb} ")
        assert "Examples:" in out and f"soma {verb}" in out.split("Examples:")[1], verb


@pytest.mark.parametrize(
    "argv",
    [
        ["replay", "x.jsonl", "--db", "x.db"],
        ["replay", "--db", "x.db", "--run", "r", "--session", "s"],
        ["status", "--no-such-option"],
        ["trace"],
        ["no-such-verb"],
        ["--log-level", "loud", "status"],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run_main(capsys, *argv)
    assert code == 2 and out == ""
    assert "Error:" in err


def test_bad_inputs_of_each_verb(capsys: pytest.CaptureFixture[str], rec: Recorded, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.db")
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("not sqlite at all\n" * 64)
    no_seq = tmp_path / "no_seq.jsonl"
    first = json.loads(events_of(rec.db)[0].to_json())
    del first["seq"]
    no_seq.write_text(json.dumps(first) + "\n")
    db = str(rec.db)
    cases: list[tuple[list[str], str]] = [
        (["statusline", "--db", missing], f"no database at {missing}"),
        (["trace", rec.completed_run, "--db", missing], f"no database at {missing}"),
        (["export", "--db", missing], f"no database at {missing}"),
        (["replay", "--db", missing], f"no database at {missing}"),
        (["status", "--db", str(not_a_db)], f"cannot open event store {str(not_a_db)!r}"),
        (["replay", str(tmp_path / "none.jsonl")], "no such file"),
        (["replay", str(no_seq)], f"{no_seq}:1: no 'seq'"),
        (["replay", "--db", db, "--run", "run-nope"], f"no events for run run-nope in {db}"),
        (["export", "--run", "run-nope", "--db", db], f"no run 'run-nope' in {db}"),
        (["export", "--session", "sess-nope", "--db", db], f"no session 'sess-nope' in {db}"),
        (["cancel", "run-x", "--control", str(tmp_path / "none.sock")], "no Soma runtime is listening"),
    ]
    for argv, expected in cases:
        code, out, err = run_main(capsys, *argv)
        assert (code, out) == (1, ""), argv
        [line] = err.splitlines()
        assert line.startswith("soma: error: ") and expected in line, (argv, line)


def test_a_bug_is_one_line_and_its_traceback_is_one_flag_away(
    capsys: pytest.CaptureFixture[str], rec: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(log: object) -> None:
        raise RuntimeError("summaries exploded")

    monkeypatch.setattr(status_module, "agent_statuses", broken)
    code, out, err = run_main(capsys, "status", "--db", str(rec.db))
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "soma: internal error: RuntimeError: summaries exploded (--log-level debug shows the traceback)"
    ]
    code, _, err = run_main(capsys, "--log-json", "--log-level", "debug", "status", "--db", str(rec.db))
    assert code == 1
    record, line = err.splitlines()
    logged = json.loads(record)
    assert logged["event"] == "unexpected error" and logged["logger"] == "soma.cli"
    assert logged["exception"][0]["exc_type"] == "RuntimeError"
    assert line.startswith("soma: internal error: RuntimeError")


def test_a_session_slice_replays_and_an_empty_database_has_no_agents(
    capsys: pytest.CaptureFixture[str], rec: Recorded, tmp_path: Path
) -> None:
    code, out, _ = run_main(capsys, "replay", "--db", str(rec.db), "--session", rec.research_session)
    points = len(events_of(rec.db, session_id=rec.research_session, type="vitals.updated"))
    *trajectory, verdict = out.splitlines()
    assert code == 0 and len(trajectory) == points and points > 0
    assert verdict == f"match: {points} points, bit-identical to the recorded trajectory"

    empty = tmp_path / "empty.db"

    async def create() -> None:
        async with open_event_log(empty):
            pass

    anyio.run(create, backend="asyncio")
    assert run_main(capsys, "statusline", "--db", str(empty)) == (0, "soma: no agents\n", "")
    code, out, _ = run_main(capsys, "status", "--db", str(empty))
    assert code == 0 and out.splitlines() == [f"soma {__version__}  {empty}  0 events  0 agents"]


def test_a_runtime_with_its_own_vitals_config_replays_with_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Failures weigh more under this config: its trajectory is not the default config's.
    config = VitalsConfig(baselines={**DEFAULT_BASELINES, "error_rate": (0.02, 0.01)}, window=5)
    db = tmp_path / "own.db"

    async def record() -> None:
        async with Runtime.open(db=db, vitals=config) as rt:
            session = await rt.start_session("ops")
            for _ in range(3):
                await (
                    await session.start_run([Step("s1", "echo", {"value": 1}), Step("s2", "fail")])
                ).result()
            await rt.vitals.caught_up()

    anyio.run(record, backend="asyncio")
    saved = tmp_path / "vitals.json"
    saved.write_text(json.dumps(config.to_json()))
    code, out, err = run_main(capsys, "replay", "--db", str(db), "-q")
    assert code == 3 and out.startswith("DIVERGES at point ") and len(out.splitlines()) == 1
    assert "--config FILE.json" in err
    code, out, _ = run_main(capsys, "replay", "--db", str(db), "-q", "--config", str(saved))
    assert code == 0 and out.startswith("match: "), out

    bad = tmp_path / "bad.json"
    for text, expected in [
        ('{"alpha": ', f"{bad}:1: not JSON (Expecting value)"),
        ("[1, 2]", f"{bad}: not a vitals config: expected a JSON object, got list"),
        ('{"alpha": 0.1}', f"{bad}: not a vitals config: no 'cold_start'"),
        (
            json.dumps({**config.to_json(), "alpha": 7}),
            f"{bad}: not a vitals config: VitalsConfig.alpha must be in [1e-09, 1.0], got 7",
        ),
    ]:
        bad.write_text(text)
        code, out, err = run_main(capsys, "replay", "--db", str(db), "--config", str(bad))
        assert (code, out) == (1, "") and err.strip() == f"soma: error: {expected}", err
    code, _, err = run_main(capsys, "replay", "--db", str(db), "--config", str(tmp_path / "nope.json"))
    assert code == 1 and f"no such file: {tmp_path / 'nope.json'}" in err
