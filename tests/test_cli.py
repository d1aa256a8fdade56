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
