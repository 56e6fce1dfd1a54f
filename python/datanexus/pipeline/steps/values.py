"""Steps that convert one value: cast (PIPE-10), timestamp (PIPE-15) and the RE2 regex
steps (PIPE-14). Regexes are compiled with google-re2 only — backreferences and lookaround
do not compile and fail the spec; there is no fallback to :mod:`re`, so matching is linear
in the input whatever the pattern."""

from __future__ import annotations

from typing import Any

import re2

from datanexus.errors import ConfigError, TransformError
from datanexus.pipeline.casts import CASTS
from datanexus.pipeline.dates import format_instant, load_zone, parse_instant, to_epoch_ms
from datanexus.pipeline.paths import FieldPath
from datanexus.pipeline.reader import Table
from datanexus.pipeline.steps.base import BuildContext, Step, read_path

__all__ = [
    "CaseStep",
    "CastStep",
    "RegexExtractStep",
    "RegexMatchStep",
    "RegexReplaceStep",
    "TimestampStep",
    "compile_re2",
]

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error goes into the ConfigError instead of stderr
_MAX_PATTERN = 1000


def compile_re2(pattern: object, *, where: str) -> Any:
    """An RE2 regex; :class:`~datanexus.ConfigError` naming ``where`` for patterns RE2
    refuses (backreferences, lookaround, bad syntax) and patterns over 1000 characters."""
    if not isinstance(pattern, str):
        raise ConfigError(f"{where}: expected a regular expression string, got {pattern!r}")
    if len(pattern) > _MAX_PATTERN:
        raise ConfigError(f"{where}: pattern longer than {_MAX_PATTERN} characters")
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ConfigError(
            f"{where}: {pattern!r} is not an RE2 pattern ({reason}); RE2 has no "
            "backreferences or lookaround"
        ) from None


class CastStep(Step):
    """Cast ``field`` ``to`` bool, int, float or string (rules in
    :mod:`datanexus.pipeline.casts`)."""

    op = "cast"

    def __init__(self, name: str, path: FieldPath, to: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.path, self.to = path, to
        self._cast = CASTS[to]

    @classmethod
    def build(cls, t: Table, name: str, ctx: BuildContext, **kw: Any) -> CastStep:
        return cls(name, read_path(t, "field"), t.string("to", choices=tuple(CASTS)), **kw)

    def apply(self, event: dict[str, Any]) -> dict[str, Any] | None:
        try:
            value = self._cast(self.path.get(event))
        except TransformError as exc:
            if exc.step or type(exc) is not TransformError:
                raise
            raise TransformError(f"{self.path.text}: {exc.reason}") from None
        self.path.set(event, value)
        return event

    def written(self) -> tuple[FieldPath, ...]:
        return (self.path,)


class CaseStep(Step):
    """Letter case of the string at ``field``: ``to = "upper"`` or ``"lower"`` (currency
    codes, country codes). Null stays null; a non-string is an error."""

    op = "case"

    def __init__(self, name: str, path: FieldPath, upper: bool, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.path, self.upper = path, upper

    @classmethod
    def build(cls, t: Table, name: str, ctx: BuildContext, **kw: Any) -> CaseStep:
        upper = t.string("to", choices=("upper", "lower")) == "upper"
        return cls(name, read_path(t, "field"), upper, **kw)

    def apply(self, event: dict[str, Any]) -> dict[str, Any] | None:
        value = self.path.get(event)
        if value is None:
            return event
        if not isinstance(value, str):
            raise TransformError(f"{self.path.text!r} is {type(value).__name__}, not a string")
        self.path.set(event, value.upper() if self.upper else value.lower())
        return event

    def written(self) -> tuple[FieldPath, ...]:
        return (self.path,)


class TimestampStep(Step):
    """Normalise the time at ``field`` (written to ``to_field``, default the same) as
    ``format = "iso"`` (``YYYY-MM-DDTHH:MM:SS.mmmZ``, default) or ``"epoch_ms"``. Naive
    times are in ``time_zone`` (default the pipeline's). ``formats`` adds ``strptime``
    formats. An unparseable value is kept as it is and counted (``unparseable``)."""

    op = "timestamp"

    def __init__(
        self,
        name: str,
        path: FieldPath,
        target: FieldPath,
        fmt: str,
        zone: Any,
        formats: tuple[str, ...],
        **kw: Any,
    ) -> None:
        super().__init__(name, **kw)
        self.path, self.target, self.fmt, self.zone, self.formats = path, target, fmt, zone, formats

    @classmethod
    def build(cls, t: Table, name: str, ctx: BuildContext, **kw: Any) -> TimestampStep:
        path = read_path(t, "field")
        target = read_path(t, "to_field", path)
        fmt = t.string("format", "iso", choices=("iso", "epoch_ms"))
        zone = ctx.zone
        if t.has("time_zone"):
            zone = load_zone(t.string("time_zone"), where=t.where("time_zone"))
        else:
            t.raw("time_zone", None)
        formats = tuple(t.str_list("formats", []))
        for f in formats:
            if "%" not in f:
                raise t.error("formats", f"{f!r} is not a strptime format")
        return cls(name, path, target, fmt, zone, formats, **kw)

    def apply(self, event: dict[str, Any]) -> dict[str, Any] | None:
        value = self.path.get(event)
        if value is None:
            return event
        instant = parse_instant(value, self.zone, self.formats)
        if instant is None:
            self.counters.unparseable += 1
            if self.target is not self.path:
                self.target.set(event, value)
            return event
        self.target.set(
            event, format_instant(instant) if self.fmt == "iso" else to_epoch_ms(instant)
        )
        return event

    def written(self) -> tuple[FieldPath, ...]:
        return (self.target,)


class _RegexStep(Step):
    def __init__(
        self, name: str, path: FieldPath, regex: Any, target: FieldPath, **kw: Any
    ) -> None:
        super().__init__(name, **kw)
        self.path, self.regex, self.target = path, regex, target

    def _text(self, event: dict[str, Any]) -> str | None:
        value = self.path.get(event)
        if value is None or isinstance(value, str):
            return value
        raise TransformError(f"{self.path.text!r} is {type(value).__name__}, not a string")

    def written(self) -> tuple[FieldPath, ...]:
        return (self.target,)


class RegexExtractStep(_RegexStep):
    """The first match of ``pattern`` in ``field`` (``group``: 0 = the whole match,
    default) into ``to`` (default ``field``); no match → null."""

    op = "regex_extract"

    def __init__(self, *args: Any, group: int, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.group = group

    @classmethod
    def build(cls, t: Table, name: str, ctx: BuildContext, **kw: Any) -> RegexExtractStep:
        regex = compile_re2(t.raw("pattern"), where=t.where("pattern"))
        group = t.integer("group", 0, lo=0)
        if group > regex.groups:
            raise t.error("group", f"the pattern has {regex.groups} groups")
        path = read_path(t, "field")
        return cls(name, path, regex, read_path(t, "to", path), group=group, **kw)

    def apply(self, event: dict[str, Any]) -> dict[str, Any] | None:
        text = self._text(event)
        match = None if text is None else self.regex.search(text)
        self.target.set(event, None if match is None else match.group(self.group))
        return event


class RegexReplaceStep(_RegexStep):
    """Replace every match of ``pattern`` in ``field`` by ``replacement`` (``\\1`` names a
    group) into ``to`` (default ``field``)."""

    op = "regex_replace"

    def __init__(self, *args: Any, replacement: str, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.replacement = replacement

    @classmethod
    def build(cls, t: Table, name: str, ctx: BuildContext, **kw: Any) -> RegexReplaceStep:
        regex = compile_re2(t.raw("pattern"), where=t.where("pattern"))
        replacement = t.string("replacement")
        try:
            regex.sub(replacement, "")
        except (re2.error, IndexError, ValueError) as exc:
            raise t.error("replacement", f"invalid for this pattern: {exc}") from None
        path = read_path(t, "field")
        return cls(name, path, regex, read_path(t, "to", path), replacement=replacement, **kw)

    def apply(self, event: dict[str, Any]) -> dict[str, Any] | None:
        text = self._text(event)
        if text is not None:
            self.target.set(event, self.regex.sub(self.replacement, text))
        return event


class RegexMatchStep(_RegexStep):
    """Whether ``pattern`` matches somewhere in ``field``: with ``to``, the boolean is
    stored there; without, the step is a filter keeping matching events (``negate = true``
    keeps the others). Null never matches."""

    op = "regex_match"

    def __init__(self, *args: Any, negate: bool, store: bool, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.negate, self.store = negate, store

    @classmethod
    def build(cls, t: Table, name: str, ctx: BuildContext, **kw: Any) -> RegexMatchStep:
        regex = compile_re2(t.raw("pattern"), where=t.where("pattern"))
        path = read_path(t, "field")
        store = t.has("to")
        target = read_path(t, "to", path)
        negate = t.boolean("negate", False)
        return cls(name, path, regex, target, negate=negate, store=store, **kw)

    def apply(self, event: dict[str, Any]) -> dict[str, Any] | None:
        text = self._text(event)
        hit = text is not None and self.regex.search(text) is not None
        hit = hit != self.negate
        if self.store:
            self.target.set(event, hit)
            return event
        return event if hit else None

    def written(self) -> tuple[FieldPath, ...]:
        return (self.target,) if self.store else ()
