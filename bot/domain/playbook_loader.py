"""Read and validate playbook files, reporting every problem as `file:line: field: message`."""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bot.domain import limits, lined_yaml, money, templates
from bot.domain.durations import parse_duration
from bot.domain.lined_yaml import LinedDict, LinedList
from bot.domain.playbook import (
    Apology,
    CompensationOption,
    CompensationType,
    FixStep,
    FollowUpPolicy,
    Playbook,
    Severity,
)

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_STEPS = 20  # one block each in the checklist message (Slack: 50 blocks a message)
MAX_TEXT = 2000  # any one text: guidance, a step, a talking point (a section holds 3000)
MAX_OPTIONS = 10


@dataclass(frozen=True, order=True)
class PlaybookError:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class _Reader:
    """Collects errors while reading one file's lined YAML into typed values."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[PlaybookError] = []

    def error(self, line: int, field: str, message: str) -> None:
        self.errors.append(PlaybookError(self.file, line, field, message))

    def mapping(self, value: Any, line: int, path: str, *, required: Iterable[str],
                optional: Iterable[str] = ()) -> LinedDict | None:
        if not isinstance(value, LinedDict):
            self.error(line, path, f"expected a set of 'key: value' lines, got {_kind(value)}")
            return None
        required, optional = tuple(required), tuple(optional)
        known = (*required, *optional)
        for key, dup_line in value.duplicates:
            self.error(dup_line, _join(path, key), "written twice; keep one")
        for key in value:
            if key not in known:
                hint = difflib.get_close_matches(str(key), known, n=1)
                suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
                self.error(value.lines[key], _join(path, str(key)),
                           f"unknown key{suggestion}; expected one of: {', '.join(known)}")
        for key in required:
            if key not in value:
                self.error(value.line, _join(path, key), "missing (required)")
        return value

    def text(self, parent: LinedDict, key: str, path: str, *, required: bool = True,
             default: str | None = None, max_len: int = MAX_TEXT) -> str | None:
        if key not in parent:
            return default
        value, line = parent[key], parent.lines[key]
        if isinstance(value, bool) or value is None or isinstance(value, LinedDict | LinedList):
            if value is None and not required:
                return default
            self.error(line, _join(path, key), f"expected text, got {_kind(value)}")
            return None
        text = str(parent.raw.get(key, value)).strip()
        if not text and required:
            self.error(line, _join(path, key), "must not be empty")
            return None
        return self.fits(text, line, _join(path, key), max_len)

    def fits(self, text: str, line: int, field: str, max_len: int) -> str | None:
        """Text longer than the message or database column it goes into is an error here,
        not a cut or a failed save in front of a customer."""
        if len(text) > max_len:
            self.error(line, field, f"at most {max_len:,} characters; this is {len(text):,}")
            return None
        return text

    def texts(self, parent: LinedDict, key: str, path: str, *, required: bool = False,
              non_empty: bool = False, max_len: int = MAX_TEXT) -> tuple[str, ...]:
        if key not in parent:
            return ()
        value, line = parent[key], parent.lines[key]
        field = _join(path, key)
        if value is None and not required:
            return ()
        if not isinstance(value, LinedList):
            self.error(line, field, f"expected a list ('- item' lines), got {_kind(value)}")
            return ()
        out: list[str] = []
        for i, item in enumerate(value):
            if isinstance(item, LinedDict | LinedList) or item is None or isinstance(item, bool):
                self.error(value.lines[i], f"{field}[{i + 1}]", f"expected text, got {_kind(item)}")
            elif str(item).strip():
                text = str(value.raw[i] if value.raw[i] is not None else item).strip()
                if self.fits(text, value.lines[i], f"{field}[{i + 1}]", max_len) is not None:
                    out.append(text)
        if non_empty and not out:
            self.error(line, field, "needs at least one entry")
        return tuple(out)

    def duration(self, parent: LinedDict, key: str, path: str) -> timedelta | None:
        text = self.text(parent, key, path, required=False)
        if text is None:
            return None
        try:
            return parse_duration(text)
        except ValueError as exc:
            self.error(parent.lines[key], _join(path, key), str(exc))
            return None

    def number(self, parent: LinedDict, key: str, path: str, *,
               percent_sign: bool = False) -> Decimal | None:
        value, line = parent[key], parent.lines[key]
        raw = str(parent.raw.get(key, value)).strip()
        if percent_sign:
            raw = raw.removesuffix("%").strip()
        try:
            if isinstance(value, bool):
                raise InvalidOperation
            number = Decimal(raw) if len(raw) <= 40 else Decimal("NaN")
            if not number.is_finite() or number < 0 or number.adjusted() >= money.MAX_DIGITS:
                raise InvalidOperation
        except InvalidOperation:
            example = "150%" if percent_sign else "12.50"
            self.error(line, _join(path, key),
                       f"expected a number that is zero or more (below "
                       f"{10 ** money.MAX_DIGITS:,}), like {example}; got '{raw[:40]}'")
            return None
        return number


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    if isinstance(value, LinedDict):
        return "a set of keys"
    if isinstance(value, LinedList):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"yes/no ({str(value).lower()})"
    return f"'{value}'"


TOP_REQUIRED = ("id", "title", "version", "severities", "apology", "fix", "compensation",
                "causes", "follow_up")
TOP_OPTIONAL = ("description", "applies_when")


def parse_playbook(text: str, file: str) -> tuple[Playbook | None, list[PlaybookError]]:
    """Validate one playbook's text. Returns the playbook only when there are no errors."""
    reader = _Reader(file)
    try:
        data = lined_yaml.load(text)
    except lined_yaml.YamlSyntaxError as exc:
        return None, [PlaybookError(file, exc.line, "yaml", exc.message)]
    top = reader.mapping(data, getattr(data, "line", 1), "", required=TOP_REQUIRED,
                         optional=TOP_OPTIONAL)
    if top is None:
        return None, reader.errors

    playbook_id = reader.text(top, "id", "")
    if playbook_id and not SLUG.match(playbook_id):
        reader.error(top.lines["id"], "id",
                     f"'{playbook_id}' must be lowercase letters, digits and dashes, like "
                     "'late-delivery'")
    title = reader.text(top, "title", "", max_len=150)  # a header block holds 150
    version = reader.text(top, "version", "", max_len=limits.PLAYBOOK_VERSION)
    description = reader.text(top, "description", "", required=False, default="") or ""

    categories: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    if "applies_when" in top:
        applies = reader.mapping(top["applies_when"], top.lines["applies_when"], "applies_when",
                                 required=(), optional=("categories", "keywords"))
        if applies is not None:
            categories = reader.texts(applies, "categories", "applies_when")
            keywords = reader.texts(applies, "keywords", "applies_when")

    severities = _severities(reader, top)
    apology = _apology(reader, top)
    fix = _fix(reader, top)
    compensation, ceiling = _compensation(reader, top, severities)
    causes = reader.texts(top, "causes", "", required=True, non_empty=True,
                          max_len=limits.ROOT_CAUSE)
    follow_up = _follow_up(reader, top)

    if reader.errors:
        return None, sorted(reader.errors)
    assert playbook_id and title and version and apology and follow_up is not None
    return Playbook(
        id=playbook_id, title=title, description=description, version=version,
        categories=categories, keywords=keywords, severities=severities, apology=apology,
        fix=fix, compensation=compensation, ceiling_percent=ceiling, causes=causes,
        follow_up=follow_up, source=Path(file),
        content_hash=hashlib.sha256(text.encode()).hexdigest()[:12],
    ), []


def _severities(reader: _Reader, top: LinedDict) -> tuple[Severity, ...]:
    if "severities" not in top:
        return ()
    node = reader.mapping(top["severities"], top.lines["severities"], "severities",
                          required=(), optional=tuple(str(k) for k in top["severities"])
                          if isinstance(top["severities"], LinedDict) else ())
    if node is None:
        return ()
    out = []
    for key in node:
        if not SLUG.match(str(key)) or len(str(key)) > limits.SEVERITY_KEY:
            reader.error(node.lines[key], f"severities.{key}",
                         "a severity name must be lowercase letters, digits and dashes, "
                         f"at most {limits.SEVERITY_KEY} characters")
            continue
        description = reader.text(node, key, "severities")
        if description:
            out.append(Severity(key=str(key), description=description))
    if not node:
        reader.error(node.line, "severities", "needs at least one level, like 'minor: ...'")
    return tuple(out)


def _apology(reader: _Reader, top: LinedDict) -> Apology | None:
    if "apology" not in top:
        return None
    node = reader.mapping(top["apology"], top.lines["apology"], "apology",
                          required=("guidance", "suggested_wording"), optional=("do", "dont"))
    if node is None:
        return None
    guidance = reader.text(node, "guidance", "apology")
    wording = reader.text(node, "suggested_wording", "apology")
    if wording:
        for problem in templates.check(wording):
            reader.error(node.lines["suggested_wording"] + problem.line - 1,
                         "apology.suggested_wording", problem.message)
    do = reader.texts(node, "do", "apology")
    dont = reader.texts(node, "dont", "apology")
    if guidance is None or wording is None:
        return None
    return Apology(guidance=guidance, wording=wording, do=do, dont=dont)


def _fix(reader: _Reader, top: LinedDict) -> tuple[FixStep, ...]:
    if "fix" not in top:
        return ()
    steps_node = top["fix"]
    if not isinstance(steps_node, LinedList) or not steps_node:
        reader.error(top.lines["fix"], "fix",
                     "expected a list of steps ('- step: ...'), with at least one step")
        return ()
    if len(steps_node) > MAX_STEPS:
        # Each step is a block of the checklist message; Slack allows 50 blocks a message.
        reader.error(top.lines["fix"], "fix", f"at most {MAX_STEPS} steps; "
                     f"this has {len(steps_node)} (merge some)")
    steps = []
    for i, item in enumerate(steps_node):
        path, line = f"fix[{i + 1}]", steps_node.lines[i]
        if isinstance(item, str):
            if not item.strip():
                reader.error(line, path, "must not be empty")
            elif reader.fits(item.strip(), line, path, MAX_TEXT) is not None:
                steps.append(FixStep(text=item.strip()))
            continue
        node = reader.mapping(item, line, path, required=("step",), optional=("who", "within"))
        if node is None:
            continue
        text = reader.text(node, "step", path)
        who = reader.text(node, "who", path, required=False)
        within = reader.duration(node, "within", path)
        if text:
            steps.append(FixStep(text=text, who=who, within=within))
    return tuple(steps)


def _compensation(reader: _Reader, top: LinedDict, severities: tuple[Severity, ...]
                  ) -> tuple[dict[str, tuple[CompensationOption, ...]], Decimal | None]:
    if "compensation" not in top:
        return {}, None
    node = reader.mapping(top["compensation"], top.lines["compensation"], "compensation",
                          required=("options",), optional=("ceiling",))
    if node is None:
        return {}, None
    ceiling = None
    if "ceiling" in node:
        ceiling = reader.number(node, "ceiling", "compensation", percent_sign=True)
        if ceiling is not None and ceiling <= 0:
            reader.error(node.lines["ceiling"], "compensation.ceiling", "must be above 0%")
    options_node = node.get("options")
    if options_node is None:
        return {}, ceiling
    if not isinstance(options_node, LinedDict):
        reader.error(node.lines["options"], "compensation.options",
                     "expected one list of options per severity, like 'minor:'")
        return {}, ceiling
    known = {s.key for s in severities}
    result: dict[str, tuple[CompensationOption, ...]] = {}
    for severity, options in options_node.items():
        path = f"compensation.options.{severity}"
        if known and severity not in known:
            reader.error(options_node.lines[severity], path,
                         f"'{severity}' is not one of the severities: {', '.join(sorted(known))}")
            continue
        if not isinstance(options, LinedList):
            reader.error(options_node.lines[severity], path, "expected a list of options")
            continue
        if len(options) > MAX_OPTIONS:
            reader.error(options_node.lines[severity], path,
                         f"at most {MAX_OPTIONS} options per severity; this has {len(options)}")
        parsed = []
        for i, option in enumerate(options):
            parsed_option = _option(reader, option, options.lines[i], f"{path}[{i + 1}]",
                                    f"{severity}-{i + 1}", ceiling)
            if parsed_option:
                parsed.append(parsed_option)
        result[str(severity)] = tuple(parsed)
    for severity in known - set(result):
        reader.error(options_node.line, f"compensation.options.{severity}",
                     "missing: every severity needs its list of options (it may be [])")
    return result, ceiling


def _option(reader: _Reader, value: Any, line: int, path: str, key: str,
            ceiling: Decimal | None) -> CompensationOption | None:
    node = reader.mapping(value, line, path, required=("type", "label"),
                          optional=("value", "percent"))
    if node is None:
        return None
    type_text = reader.text(node, "type", path)
    kind = None
    if type_text:
        try:
            kind = CompensationType(type_text.replace(" ", "_").lower())
        except ValueError:
            choices = ", ".join(t.value for t in CompensationType)
            reader.error(node.lines["type"], f"{path}.type",
                         f"'{type_text}' is not a compensation type; use one of: {choices}")
    label = reader.text(node, "label", path, max_len=limits.COMPENSATION_LABEL)
    amount = reader.number(node, "value", path) if "value" in node else None
    percent = reader.number(node, "percent", path, percent_sign=True) if "percent" in node else None
    if ("value" in node) == ("percent" in node):
        reader.error(node.line, path, "give exactly one of 'value' (an amount) or 'percent' "
                     "(of the purchase)")
    if percent is not None and ceiling is not None and percent > ceiling:
        reader.error(node.lines["percent"], f"{path}.percent",
                     f"{percent}% is above the playbook's ceiling of {ceiling}%")
    if kind is None or label is None:
        return None
    return CompensationOption(key=key, type=kind, label=label, value=amount, percent=percent)


def _follow_up(reader: _Reader, top: LinedDict) -> FollowUpPolicy | None:
    if "follow_up" not in top:
        return None
    node = reader.mapping(top["follow_up"], top.lines["follow_up"], "follow_up",
                          required=(), optional=("who", "within", "talking_points",
                                                 "escalate_after", "escalate_to"))
    if node is None:
        return None
    return FollowUpPolicy(
        who=reader.text(node, "who", "follow_up", required=False) or "Manager",
        within=reader.duration(node, "within", "follow_up"),
        talking_points=reader.texts(node, "talking_points", "follow_up"),
        escalate_after=reader.duration(node, "escalate_after", "follow_up"),
        escalate_to=reader.text(node, "escalate_to", "follow_up", required=False),
    )


MAX_FILE_BYTES = 256 * 1024  # the largest shipped playbook is about 4 KB


class PlaybookFileRefused(Exception):
    pass


def read_playbook_file(path: Path) -> str:
    """A regular file of at most MAX_FILE_BYTES, as UTF-8, or PlaybookFileRefused.

    A FIFO would block open() forever and a device (or a link to /dev/zero) never ends, so
    the type is checked before opening, the open can't block, and the read stops at the cap.
    A link to a regular file is fine (Kubernetes mounts ConfigMaps that way)."""
    try:
        before = os.stat(path)
        if not stat.S_ISREG(before.st_mode):
            raise PlaybookFileRefused("is not a regular file (a pipe, device or folder?); "
                                      "playbooks must be plain files")
        if before.st_size > MAX_FILE_BYTES:
            raise PlaybookFileRefused(f"is {before.st_size:,} bytes; a playbook may be at most "
                                      f"{MAX_FILE_BYTES:,}")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since the check
                raise PlaybookFileRefused("is not a regular file")
            with os.fdopen(fd, "rb", closefd=False) as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        raise PlaybookFileRefused(f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise PlaybookFileRefused(f"is larger than {MAX_FILE_BYTES:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlaybookFileRefused(f"is not UTF-8 text (byte {exc.start})") from None


@dataclass(frozen=True)
class LoadResult:
    playbooks: dict[str, Playbook]
    errors: list[PlaybookError]
    files: int
    warnings: list[PlaybookError] = field(default_factory=list)


def size_warnings(playbook: Playbook, text: str) -> list[PlaybookError]:
    """Parts whose text would not fit one Slack message together: they are still posted,
    cut visibly, but the author should know. The count is the text itself, a little under
    what the message carries (its headings and buttons are extra)."""
    parts = {
        "apology": (playbook.apology.guidance, playbook.apology.wording,
                    *playbook.apology.do, *playbook.apology.dont),
        "fix": tuple(f"{s.text} {s.who or ''}" for s in playbook.fix),
        "compensation": tuple(o.label for options in playbook.compensation.values()
                              for o in options),
    }
    found = []
    for key, texts in parts.items():
        size = sum(len(t) for t in texts)
        if size > limits.MESSAGE_TEXT:
            found.append(PlaybookError(
                str(playbook.source), _key_line(text, key), key,
                f"carries {size:,} characters; one Slack message holds about "
                f"{limits.MESSAGE_TEXT:,}, so it would be shown cut: shorten or merge"))
    return found


def load_directory(directory: Path) -> LoadResult:
    """Every *.yaml / *.yml in a directory, plus duplicate-id checks across files."""
    if not directory.is_dir():
        return LoadResult({}, [PlaybookError(str(directory), 0, "directory",
                                             "not found or not a directory")], 0)
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    playbooks: dict[str, Playbook] = {}
    errors: list[PlaybookError] = []
    warnings: list[PlaybookError] = []
    for path in files:
        try:
            text = read_playbook_file(path)
        except PlaybookFileRefused as exc:
            errors.append(PlaybookError(str(path), 1, "file", str(exc)))
            continue
        playbook, problems = parse_playbook(text, str(path))
        errors.extend(problems)
        if playbook is None:
            continue
        if playbook.id in playbooks:
            first = playbooks[playbook.id].source
            errors.append(PlaybookError(str(path), _id_line(text), "id",
                                        f"'{playbook.id}' is already used by {first}"))
            continue
        playbooks[playbook.id] = playbook
        warnings.extend(size_warnings(playbook, text))
    if not files:
        errors.append(PlaybookError(str(directory), 0, "directory", "holds no *.yaml playbooks"))
    return LoadResult(playbooks, errors, len(files), warnings)


def _id_line(text: str) -> int:
    return _key_line(text, "id")


def _key_line(text: str, key: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith(f"{key}:"):
            return number
    return 1
