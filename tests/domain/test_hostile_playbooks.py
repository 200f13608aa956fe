"""A hostile playbook folder ends quickly with file:line errors and exit 1: never a hang, a
traceback or gigabytes of memory. The command runs as a real process under a CPU-time,
wall-clock and address-space limit, so a regression fails here instead of taking the machine."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from bot.domain import templates
from bot.domain.playbook_library import shipped_directory
from bot.domain.playbook_loader import MAX_FILE_BYTES, parse_playbook, read_playbook_file

LIMIT_SECONDS = 30
LIMIT_BYTES = 1024 ** 3  # 1 GiB of address space: the interpreter and its libraries fit well

SHIPPED = (shipped_directory() / "late-delivery.yaml").read_text(encoding="utf-8")


def _variant(**replace: str) -> str:
    text = SHIPPED
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new, 1)
    return text


def _wording(template: str) -> str:
    start = SHIPPED.index("  suggested_wording: |\n")
    end = SHIPPED.index("fix:\n")
    return SHIPPED[:start] + "  suggested_wording: |\n    " + template + "\n" + SHIPPED[end:]


LAUGHS = "".join(
    f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}" if i else '"lol"'] * 9)
    + "]\n" for i in range(10))

HOSTILE = {
    "alias-bomb.yaml": LAUGHS,
    "recursive-alias.yaml": "id: x\nloop: &a [*a]\n",
    "deep.yaml": "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "range.yaml": _wording("{% for i in range(10**9) %}x{% endfor %}"),
    "repeat.yaml": _wording("{{ 'a' * 10**9 }}"),
    "power.yaml": _wording("{{ 9**999999999 }}"),
    "nested-loops.yaml": _wording(
        "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}"
        "{% endfor %}{% endfor %}{% endfor %}"),
    "namespace.yaml": _wording(
        "{% set ns = namespace(s='ab') %}{% for i in range(200) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s }}"),
    "input-loops.yaml": _wording(
        "{% for a in what_happened %}{% for b in what_happened %}{{ a }}{% endfor %}"
        "{% endfor %}"),
    "version.yaml": _variant(**{"version: 1": "version: " + "9" * 40}),
    "label.yaml": _variant(**{"label: 10% off their next order":
                              "label: " + "Ten percent off " * 15}),
    "value.yaml": _variant(**{"value: 4.00": "value: 1e999999"}),
}


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (LIMIT_SECONDS, LIMIT_SECONDS))


def _hostile_folder(root: Path) -> Path:
    folder = root / "playbooks"
    folder.mkdir()
    for name, text in HOSTILE.items():
        (folder / name).write_text(text, encoding="utf-8")
    os.mkfifo(folder / "fifo.yaml")
    (folder / "zero.yaml").symlink_to("/dev/zero")
    with (folder / "huge.yaml").open("wb") as handle:  # 50 MB, sparse
        handle.truncate(50 * 1024 * 1024)
    return folder


def _run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=LIMIT_SECONDS * 2,
                          preexec_fn=_limits)


def test_playbooks_check_on_a_hostile_folder_ends_with_file_line_errors(tmp_path: Path
                                                                         ) -> None:
    folder = _hostile_folder(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AMENDS_"))}
    result = _run("playbooks", "check", str(folder), env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    for name in [*HOSTILE, "fifo.yaml", "zero.yaml", "huge.yaml"]:
        assert f"{folder / name}:" in output, f"{name} not reported:\n{output[-3000:]}"
    expected = {
        "alias-bomb.yaml": "aliases", "recursive-alias.yaml": "refers to itself",
        "deep.yaml": "nested more than", "range.yaml": "too costly",
        "repeat.yaml": "too costly", "power.yaml": "too costly",
        "nested-loops.yaml": "too costly", "namespace.yaml": "too costly",
        "input-loops.yaml": "too costly", "version.yaml": "at most 32 characters",
        "label.yaml": "at most 200 characters", "value.yaml": "below",
        "fifo.yaml": "not a regular file", "zero.yaml": "not a regular file",
        "huge.yaml": f"at most {MAX_FILE_BYTES:,}",
    }
    lines = output.splitlines()
    for name, words in expected.items():
        assert any(line.startswith(f"{folder / name}:") and words in line for line in lines), \
            f"{name}: expected '{words}' in\n" + "\n".join(
                line for line in lines if name in line)


def test_serve_refuses_a_hostile_folder_at_start(tmp_path: Path) -> None:
    folder = _hostile_folder(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AMENDS_"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'a.db'}", SLACK_API_URL="http://127.0.0.1:9/",
               SLACK_BOT_TOKEN="xoxb-test-token-0000", SLACK_SIGNING_SECRET="a" * 32,
               AMENDS_PLAYBOOKS_DIR=str(folder))
    assert _run("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    result = _run("serve", "--host", "127.0.0.1", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "The playbooks have errors" in result.stderr and "Traceback" not in result.stderr
    assert f"{folder / 'alias-bomb.yaml'}:" in result.stderr


def test_a_link_to_a_regular_file_is_read(tmp_path: Path) -> None:
    target = tmp_path / "real.yaml"
    target.write_text(SHIPPED, encoding="utf-8")
    (tmp_path / "link.yaml").symlink_to(target)
    assert read_playbook_file(tmp_path / "link.yaml") == SHIPPED


def test_shipped_templates_pass_the_budget_and_render() -> None:
    playbook, errors = parse_playbook(SHIPPED, "late-delivery.yaml")
    assert errors == [] and playbook is not None
    wording = templates.render(playbook.apology.wording, {
        "customer_name": "C" * 200, "what_happened": "w" * 2000, "staff_name": "Alex",
        "order_ref": "A" * 100, "location": "L" * 100, "severity": "major"})
    assert wording.startswith("C" * 200)


def test_the_budget_holds_when_rendering_for_a_real_customer() -> None:
    # Checked against the longest form values, but a loop over text still stops live.
    source = "{% for a in what_happened %}{% for b in what_happened %}.{% endfor %}{% endfor %}"
    with pytest.raises(templates.BudgetExceeded):
        templates.render(source, {"what_happened": "x" * 2000})


@pytest.mark.parametrize(("source", "message"), [
    ("{{ customer_name|center(999999999) }}", "'center' is not available"),
    ("{{ '%999999999s'|format(1) }}", "'format' is not available"),
    ("{{ '%999999999s' % 1 }}", "formatting is not allowed"),
    ("{{ '{:>999999999}'.format(1) }}", "calling 'format' is not allowed"),
    ("{{ customer_name.ljust(999999999) }}", "calling 'ljust' is not allowed"),
    ("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "'macro' is not available"),
    ("{{ what_happened|replace('', 'a' * 50) }}", "too costly"),
    ("{{ [1] * 10**8 }}", "too costly"),
])
def test_wording_language_refusals(source: str, message: str) -> None:
    problems = templates.check(source)
    assert problems and message in problems[0].message


def test_wording_still_does_what_authors_need() -> None:
    source = ("{{ customer_name.split()[0]|title }}, sorry{% if order_ref %} about "
              "{{ order_ref|upper }}{% endif %}. {{ what_happened|truncate(40) }}")
    assert templates.check(source) == []
    assert templates.render(source, {"customer_name": "sam taylor", "order_ref": "a-1",
                                     "what_happened": "late"}) == "Sam, sorry about A-1. late"
