import pytest

from unmirage.cli import COMMANDS, main


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--seed" in out and "--out" in out


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "audit" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["eval", "--data", "x.jsonl"],
        ["nosuch"],
        ["eval", "--model", "m", "--data", "d", "--out", "o", "--batch-size", "abc"],
        ["attack", "--k"],
    ],
    ids=["missing-required", "unknown-command", "bad-int", "missing-value"],
)
def test_argument_errors_are_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2
    assert len(err) == 1 and ": error: " in err[0] and "--help" in err[0], err
