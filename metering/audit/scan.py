"""Reading logs into a `Tally`: counts, shares, per-day series and token sums, in constant memory.

Everything kept grows with the number of *kinds* of things (classes, pricing modes, days,
skip reasons, up to `MAX_MODELS` model names), never with the number of lines — except
OpenAI Batch lines (input and output joined by batch and `custom_id`, metering/audit/batch.py:
about 400 bytes per half waiting for its partner, about 120 per request joined; a Batch holds at
most 50,000 requests) and LiteLLM `latest_turn` rows waiting for their session (bounded,
metering/audit/latest_turn.py). A UTF-8 byte order mark opening a line is dropped; a file with
the same content as one given before it is read once.

Tokens: logged usage where a line has it. Otherwise the prompt is counted with the offline
tokenizer (o200k_base) on the first `TokenSampler.FIRST` lines of each format × class and one
in `TokenSampler.EVERY` after that, and the rest are scaled from their size by the measured
tokens-per-byte of their format × class (`--exact-tokens` counts every line: 0.1–0.4 ms each).
Both are marked estimated.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from classifier import remember_instructions
from metering.audit.batch import Joiner, Pairing, Side, pair, side_of
from metering.audit.formats import (
    BatchHalf,
    Format,
    Observation,
    Skip,
    detect,
    parse,
    rows_of_page,
)
from metering.audit.groups import Groups
from metering.audit.latest_turn import Sessions, read_as
from metering.audit.limits import load as load_limits
from metering.audit.sources import BOM, Progress, Source, UnreadableSource
from metering.audit.task_groups import Grouping, TaskGroups
from metering.tokens import count_prompt

AGENTIC, SINGLE_TURN = "agentic", "single_turn"
MAX_MODELS = 50
DAY_S = 86_400


@dataclass
class Bucket:
    """Token sums of one class × pricing mode."""

    requests: int = 0
    logged: int = 0  # requests with logged usage
    prompt: int = 0
    cached: int = 0
    completion: int = 0
    reasoning: int = 0
    estimated: int = 0  # requests whose prompt was estimated
    estimated_prompt: int = 0  # tokenizer-counted prompts of sampled lines
    cached_known_prompt: int = 0  # prompt tokens of requests whose usage reported cached tokens
    cached_known_cached: int = 0
    unsampled_bytes: Counter[str] = field(default_factory=Counter)  # per format: scaled at the end
    spend_usd: float = 0.0  # what the gateway logged (LiteLLM's `spend`), for the breakdowns
    spend_requests: int = 0

    def count(self, o: Observation) -> None:
        """One request's tokens: its logged usage, else its sampled prompt count, else its size (scaled at the end)."""
        self.requests += 1
        spend = o.spend_usd
        if spend is not None:
            self.spend_usd += spend
            self.spend_requests += 1
        usage = o.usage
        if usage is not None:
            self.logged += 1
            self.prompt += usage.prompt_tokens
            self.cached += usage.cached_tokens
            self.completion += usage.completion_tokens
            self.reasoning += usage.reasoning_tokens
            if o.cached_known:
                self.cached_known_prompt += usage.prompt_tokens
                self.cached_known_cached += usage.cached_tokens
        else:
            self.estimated += 1
            if o.prompt_estimate is not None:
                self.estimated_prompt += o.prompt_estimate
            else:
                self.unsampled_bytes[o.fmt] += o.size

    def count_with(self, other: Bucket, o: Observation) -> None:
        """`count(o)` on this bucket and on `other` (a LiteLLM row's session cell beside its model × team × key
        cell): the request's numbers read once for both, as counting it twice was a visible share of a row's cost."""
        self.requests += 1
        other.requests += 1
        spend = o.spend_usd
        if spend is not None:
            self.spend_usd += spend
            self.spend_requests += 1
            other.spend_usd += spend
            other.spend_requests += 1
        usage = o.usage
        if usage is not None:
            prompt, cached = usage.prompt_tokens, usage.cached_tokens
            completion, reasoning = usage.completion_tokens, usage.reasoning_tokens
            self.logged += 1
            self.prompt += prompt
            self.cached += cached
            self.completion += completion
            self.reasoning += reasoning
            other.logged += 1
            other.prompt += prompt
            other.cached += cached
            other.completion += completion
            other.reasoning += reasoning
            if o.cached_known:
                self.cached_known_prompt += prompt
                self.cached_known_cached += cached
                other.cached_known_prompt += prompt
                other.cached_known_cached += cached
        else:
            self.estimated += 1
            other.estimated += 1
            estimate = o.prompt_estimate
            if estimate is not None:
                self.estimated_prompt += estimate
                other.estimated_prompt += estimate
            else:
                self.unsampled_bytes[o.fmt] += o.size
                other.unsampled_bytes[o.fmt] += o.size

    def settle(self, sampler: TokenSampler, agentic: bool) -> None:
        """Scale the unsampled prompts by their format × class's measured tokens per byte."""
        for fmt, size in self.unsampled_bytes.items():
            self.estimated_prompt += round(size * sampler.tokens_per_byte(fmt, agentic))
        self.unsampled_bytes.clear()


class TokenSampler:
    """Counts prompts with the tokenizer on a systematic sample; the rest are scaled by size."""

    FIRST = 1000
    EVERY = 32

    def __init__(self, exact: bool = False) -> None:
        self.exact = exact
        self.seen: Counter[tuple[str, bool]] = Counter()
        self.tokens: Counter[tuple[str, bool]] = Counter()
        self.bytes: Counter[tuple[str, bool]] = Counter()

    def sample(self, observation: Observation) -> None:
        """Count this observation's prompt if it falls in the sample; drop its body either way."""
        body = observation.body
        if body is None:
            return
        observation.body = None
        key = (observation.fmt, observation.agentic)
        seen = self.seen[key]
        self.seen[key] = seen + 1
        if self.exact or seen < self.FIRST or seen % self.EVERY == 0:
            tokens = count_prompt(body, observation.api)
            self.tokens[key] += tokens
            self.bytes[key] += observation.size
            observation.prompt_estimate = tokens

    def tokens_per_byte(self, fmt: str, agentic: bool) -> float:
        key = (fmt, agentic)
        return self.tokens[key] / self.bytes[key] if self.bytes[key] else 0.0


@dataclass
class Window:
    since: float | None = None
    until: float | None = None

    @property
    def active(self) -> bool:
        return self.since is not None or self.until is not None

    def check(self, ts: float | None) -> Skip | None:
        if not self.active:
            return None
        if ts is None:
            return Skip.NO_TIMESTAMP
        if (self.since is not None and ts < self.since) or (self.until is not None and ts >= self.until):
            return Skip.OUTSIDE_WINDOW
        return None


@dataclass
class Tally:
    """What the audit counted. Updated line by line; `finish()` settles the estimates and the totals.

    Per line only two things are updated: one counter of the request's *kind* (class,
    confidence, grep, API, format, reasons, model, UTC day) and its class × mode token bucket;
    the totals by API, format, reason, model and day are summed from the kinds once, at the end.
    """

    lines: int = 0
    requests: int = 0
    agentic: int = 0
    grep: int = 0
    uncertain: int = 0  # classifier confidence below the router's default 0.6
    timed: int = 0  # requests carrying a timestamp
    ts_min: float | None = None
    ts_max: float | None = None
    logged_spend_usd: float = 0.0
    logged_spend_requests: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    apis: Counter[str] = field(default_factory=Counter)
    formats: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    models: Counter[str] = field(default_factory=Counter)
    # A plain dict, not a Counter: `kinds[kind] += 1` on a dict subclass takes Python's slow path, on every line. Each
    # kind's count in a one-item list: the key is found once a line (a tuple's hash is not cached, and a look-up then a
    # store hashed it and compared it with its equal twice).
    kinds: dict[tuple[bool, bool, bool, str, str, tuple[str, ...], str, float | None], list[int]] = field(
        default_factory=dict
    )
    days: dict[int, list[int]] = field(default_factory=dict)  # day number -> [requests, agentic, grep]
    buckets: dict[tuple[str, str], Bucket] = field(default_factory=dict)
    cached_known: Counter[str] = field(default_factory=Counter)  # per class: prompt tokens whose cache was reported
    cached_of_known: Counter[str] = field(default_factory=Counter)
    unmatched_batch_inputs: int = 0
    unreadable: list[str] = field(default_factory=list)
    duplicate_files: list[str] = field(default_factory=list)  # "b.jsonl is the same as a.jsonl"
    other_formats: Counter[str] = field(default_factory=Counter)  # --format X: lines of another format, by format
    latest_turn: Counter[str] = field(default_factory=Counter)  # LiteLLM latest-turn rows, by how each was read
    latest_turn_proven: bool = False  # the logs show `latest_turn` storage (a row that cannot be a whole body)
    task_rows: TaskGroups = field(default_factory=TaskGroups)  # each request's task keys, until `finish` groups them
    tasks: Grouping | None = None  # the requests grouped into tasks (metering/audit/task_groups.py)
    groups: Groups = field(default_factory=lambda: Groups(Bucket))  # by team, key, model, session (bounded)

    def add(self, o: Observation) -> None:
        model = o.model or "(none)"
        models = self.models
        if model not in models:
            if len(models) >= MAX_MODELS:
                model = "(other)"
            models[model] = 0
        agentic = o.agentic
        ts = o.ts
        number = None
        if ts is not None:
            if self.ts_min is None or ts < self.ts_min:
                self.ts_min = ts
            if self.ts_max is None or ts > self.ts_max:
                self.ts_max = ts
            number = ts // DAY_S  # the day's number as a float (whole): made an int once a kind, at `finish`
        kinds = self.kinds
        kind = (agentic, o.confident, o.grep, o.api, o.fmt, o.reasons, model, number)
        count = kinds.get(kind)
        if count is None:
            kinds[kind] = [1]
        else:
            count[0] += 1
        if o.spend_usd is not None:
            self.logged_spend_usd += o.spend_usd
            self.logged_spend_requests += 1
        tier = o.service_tier
        # The pricing mode the logs show: Batch, or the service tier the answer reported (requested when no answer).
        mode = "batch" if o.batch else tier if tier == "flex" or tier == "priority" else "standard"
        # Its tokens go to its cell of `groups` (model, team, key × class × mode): `buckets` are summed out of the
        # cells at `finish`, so the breakdowns cost no second update per line.
        self.groups.add(o, (AGENTIC if agentic else SINGLE_TURN, mode))
        self.task_rows.add(o)

    def finish(self, sampler: TokenSampler) -> None:
        """Sum the kinds into totals; scale unsampled prompts by their format × class's tokens per byte."""
        for (agentic, confident, grep, api, fmt, reasons, model, number), (n,) in self.kinds.items():
            if number is not None:
                self.timed += n
                number = int(number)
                day = self.days.get(number)
                if day is None:
                    day = self.days[number] = [0, 0, 0]
                day[0] += n
                day[1] += n * agentic
                day[2] += n * grep
            self.requests += n
            self.agentic += n * agentic
            self.grep += n * grep
            self.uncertain += n * (not confident)
            self.apis[api] += n
            self.formats[fmt] += n
            self.models[model] += n
            for reason in reasons:
                self.reasons[reason] += n
        self.kinds.clear()
        self.groups.total_into(self.buckets)
        self.tasks = self.task_rows.finish(sampler.tokens_per_byte, self.buckets)  # before the buckets are settled
        self.models = Counter({model: n for model, n in self.models.items() if n})
        for (label, _mode), bucket in self.buckets.items():
            bucket.settle(sampler, label == AGENTIC)
            self.cached_known[label] += bucket.cached_known_prompt
            self.cached_of_known[label] += bucket.cached_known_cached
        self.groups.finish(sampler)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


@dataclass
class ScanOptions:
    fmt: Format = Format.AUTO
    window: Window = field(default_factory=Window)
    exact_tokens: bool = False


class Scanner:
    """Feeds lines through the parsers into a Tally, joining Batch halves and deciding latest-turn rows."""

    def __init__(self, options: ScanOptions, names: list[str] | None = None, pairing: Pairing | None = None) -> None:
        names = names or ["-"]
        self.options = options
        self.tally = Tally()
        self.sampler = TokenSampler(options.exact_tokens)
        self.joiner = Joiner(names, pairing or pair(names, [Side.OTHER] * len(names)))
        self.sessions = Sessions()
        self.windowed = options.window.active
        self.source = 0  # index of the source being read
        load_limits()  # the price map is read now, once: the limits here, the report's prices at the end
        remember_instructions()  # a log replays its applications' few system prompts: each is read once

    def feed(self, raw: bytes) -> None:
        """One line of a log."""
        if not raw or raw.isspace():
            return
        if raw.startswith(BOM):  # a file saved with one (Windows tools); also mid-stream, after `cat`
            raw = raw[3:]
            if not raw or raw.isspace():
                return
        tally = self.tally
        tally.lines += 1
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            tally.skipped[Skip.INVALID_JSON] += 1
            return
        if isinstance(obj, dict) and "total" not in obj:
            parsed = parse(obj, raw, self.options.fmt)
            # Nearly every line: `_take` and `_count`, inlined.
            if type(parsed) is Observation and not self.windowed and parsed.stored is None:
                if parsed.body is not None:
                    self.sampler.sample(parsed)
                tally.add(parsed)
            elif type(parsed) is BatchHalf:  # either line of a Batch request: `_take`'s tests, without its call
                self._half(parsed)
            else:
                self._take(parsed, obj)
            return
        rows = rows_of_page(obj) if self.options.fmt in (Format.AUTO, Format.LITELLM_SPEND) else None
        if rows is None:
            if isinstance(obj, dict):
                self._take(parse(obj, raw, self.options.fmt), obj)
            else:
                tally.skipped[Skip.NOT_AN_OBJECT] += 1
            return
        for row in rows:  # a LiteLLM /spend/logs page: each row counts as a line of its own
            row_raw = orjson.dumps(row)
            tally.lines += 1
            self._take(parse(row, row_raw, self.options.fmt), row)
        tally.lines -= 1

    def _take(self, parsed: Observation | BatchHalf | Skip, obj: dict[str, object]) -> None:
        if isinstance(parsed, Skip):
            self.tally.skipped[parsed] += 1
            if parsed is Skip.OTHER_FORMAT:
                self.tally.other_formats[str(detect(obj))] += 1
            return
        if isinstance(parsed, BatchHalf):
            self._half(parsed)
            return
        self._count(parsed)

    def _count(self, observation: Observation) -> None:
        if observation.body is not None:
            self.sampler.sample(observation)  # before it may wait for its session: a waiting row keeps no body
        if observation.stored is None:
            self._add(observation)
            return
        for row in self.sessions.take(observation):
            self._add(row)

    def _add(self, observation: Observation) -> None:
        if self.windowed:
            skip = self.options.window.check(observation.ts)
            if skip is not None:
                self.tally.skipped[skip] += 1
                return
        if observation.stored is not None:
            self.tally.latest_turn[read_as(observation)] += 1
        self.tally.add(observation)

    def _half(self, half: BatchHalf) -> None:
        half.source = self.source
        if half.observation is not None:
            self.sampler.sample(half.observation)  # before it waits: a waiting half keeps no body
        joiner = self.joiner
        result = joiner.take(half)
        if type(result) is Observation:
            self._add(result)
        elif result is not None:
            self.tally.skipped[result] += 1
        if joiner.overflow:
            for late in joiner.overflow:
                self._settle(late)
            joiner.overflow.clear()

    def _settle(self, result: Observation | Skip) -> None:
        if isinstance(result, Skip):
            self.tally.skipped[result] += 1
        else:
            self._add(result)

    def finish(self) -> Tally:
        """Settle what is still waiting: Batch inputs count with estimated tokens, outputs are skipped;
        latest-turn rows count by their own message."""
        for result in self.joiner.finish():
            self._settle(result)
        for row in self.sessions.finish():
            self._add(row)
        tally = self.tally
        tally.unmatched_batch_inputs = self.joiner.unmatched
        tally.latest_turn_proven = self.sessions.proven
        remember_instructions(False)  # the prompts' readings are freed with the lines
        tally.finish(self.sampler)
        return tally


def scan(
    sources: list[Source],
    options: ScanOptions,
    progress: Progress | None = None,
    warn: Callable[[str], None] | None = None,
) -> Tally:
    """Read every source once, in order, and count what it holds.

    Raises `BatchCollision` when two different Batch lines share a batch and custom_id.
    """
    names = [source.name for source in sources]
    copies = _copies(sources)  # index -> the name of the earlier source with the same content
    sides = [Side.OTHER if index in copies else side_of(source.first_line()) for index, source in enumerate(sources)]
    scanner = Scanner(options, names, pair(names, sides))
    # What is alive now — modules, the classifier's tables, the tokenizer, the price map — lives to the end of the
    # reading: frozen, the collector's passes skip it (reading 20,000 Batch requests made a full pass of 37 ms).
    gc.freeze()
    try:
        return _read(scanner, sources, copies, progress, warn)
    finally:
        gc.unfreeze()  # collectable again: a long-lived caller (a test run) keeps no garbage
        remember_instructions(False)  # also when reading stops (two Batch lines collide)


def _read(
    scanner: Scanner,
    sources: list[Source],
    copies: dict[int, str],
    progress: Progress | None,
    warn: Callable[[str], None] | None,
) -> Tally:
    tally = scanner.tally
    for index, source in enumerate(sources):
        if index in copies:  # the same path twice, or a copy: its requests would count twice
            tally.skipped[Skip.DUPLICATE_FILE] += 1
            tally.duplicate_files.append(f"{source.name} has the same content as {copies[index]}: read once")
            if warn is not None:
                warn(tally.duplicate_files[-1])
            continue
        scanner.source = index
        count = 0
        try:
            for raw in source.lines():
                scanner.feed(raw)
                count += 1
                if progress is not None and not count % Progress.EVERY_LINES:
                    progress.tick(tally.lines, source.name)
        except UnreadableSource as exc:
            tally.skipped[Skip.UNREADABLE_FILE] += 1
            tally.unreadable.append(str(exc))
            if warn is not None:
                warn(str(exc))
    if progress is not None:
        progress.done(tally.lines)
    return scanner.finish()


def _copies(sources: list[Source]) -> dict[int, str]:
    """The sources whose content an earlier one has (by `Source.fingerprint`), with that one's name."""
    seen: dict[tuple[int, bytes], str] = {}
    copies: dict[int, str] = {}
    for index, source in enumerate(sources):
        fingerprint = source.fingerprint()
        if fingerprint is None:
            continue
        if fingerprint in seen:
            copies[index] = seen[fingerprint]
        else:
            seen[fingerprint] = source.name
    return copies
