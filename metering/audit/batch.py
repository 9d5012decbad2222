"""Joining OpenAI Batch input and output lines: by (batch, custom_id), with collisions refused.

A `custom_id` is unique only within one batch — OpenAI's own examples number them `request-1`,
`request-2`, ... in every batch — and a Batch output line carries no batch id (its `id` is the
request's, `batch_req_...`). So which batch a line belongs to comes from its file: an input
file is a batch of its own, and each output (or error) file is paired with one input file

1. by name: the same name once the words input / output / error / results / requests / in / out
   are taken out (`x-input.jsonl` and `x-output.jsonl`, `in0.jsonl` and `out0.jsonl`), in the same
   directory if several match;
2. else by order: the only input file, or the k-th unpaired output file with the k-th unpaired
   input file when there are as many of each;
3. else not at all: then every line joins by `custom_id` alone, which is right only while no
   `custom_id` names two different requests — and one that does is refused.

A stream holding both halves (`cat input.jsonl output.jsonl | routetax audit -`) is one batch: its
outputs join its inputs. A line read a second time (the same content under the same batch and
`custom_id`, e.g. a stream holding a file twice) is `duplicate_line`, counted once; a *different*
line under the same batch and `custom_id` means two batches were mixed up, and the audit stops
with `BatchCollision` naming the `custom_id` and the files rather than join one request's usage to
another's (joined by `custom_id` alone, two batches numbered alike gave single-turn requests the
agentic batch's usage, silently).

Memory: halves waiting for their partner (about 400 bytes each) and, per request joined, its key's
hash with the two lines' (about 120 bytes). When an output file is among the sources every input
waits for its output; otherwise (a stream that might hold outputs further on) at most
`MAX_WAITING`, the oldest then counted with estimated tokens.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from enum import StrEnum

import orjson

from metering.audit.formats import BatchHalf, Format, Observation, Skip, detect, merge_batch


class Side(StrEnum):
    """What a source starts with."""

    INPUT = "input"
    OUTPUT = "output"
    OTHER = "other"


class BatchCollision(Exception):
    """Two different Batch lines under one (batch, custom_id): joining either would be a guess."""


def side_of(first_line: bytes) -> Side:
    """Whether a source's first line is a Batch input line, an output line, or neither."""
    if not first_line:
        return Side.OTHER
    try:
        obj = orjson.loads(first_line)
    except orjson.JSONDecodeError:
        return Side.OTHER
    if not isinstance(obj, dict) or detect(obj) is not Format.OPENAI_BATCH:
        return Side.OTHER
    return Side.INPUT if "body" in obj else Side.OUTPUT


_ROLE_WORDS = re.compile(r"(?<![a-z])(inputs?|outputs?|errors?|err|results?|requests?|in|out)(?![a-z])")
_SEPARATORS = re.compile(r"[-_. ]+")
_SUFFIXES = (".gz", ".jsonl", ".ndjson", ".json", ".txt")


def stem(name: str) -> str:
    """A file's name without its extensions and the words that say which half of a batch it holds."""
    base = os.path.basename(name).lower()
    for suffix in _SUFFIXES:
        base = base.removesuffix(suffix)
    return _SEPARATORS.sub("", _ROLE_WORDS.sub("", base))


@dataclass(frozen=True)
class Pairing:
    """Which batch each source's output lines belong to: the index of an input source (or their own source)."""

    batches: tuple[int, ...]
    by_custom_id_alone: bool  # some output file could not be paired: every line joins by custom_id alone
    unpaired: tuple[int, ...] = ()  # those output files
    outputs_given: bool = False  # an output file is among the sources: every input waits for its output


def pair(names: list[str], sides: list[Side]) -> Pairing:
    """Pair each output file with an input file, by name, else by order (see the module's docstring)."""
    inputs = [i for i, side in enumerate(sides) if side is Side.INPUT]
    outputs = [i for i, side in enumerate(sides) if side is Side.OUTPUT]
    batches = list(range(len(names)))  # a source's own outputs join its own inputs (one stream holding both)
    stems = {i: stem(names[i]) for i in inputs}
    paired: set[int] = set()
    left: list[int] = []
    for out in outputs:
        matches = [i for i in inputs if stems[i] == stem(names[out])]
        if len(matches) > 1:
            folder = os.path.dirname(os.path.abspath(names[out]))
            matches = [i for i in matches if os.path.dirname(os.path.abspath(names[i])) == folder]
        if len(matches) == 1:
            batches[out] = matches[0]
            paired.add(matches[0])
        else:
            left.append(out)
    free = [i for i in inputs if i not in paired]
    if left and len(inputs) == 1:
        for out in left:
            batches[out] = inputs[0]
        left = []
    elif left and len(free) == len(left):
        for out, i in zip(left, free, strict=True):
            batches[out] = i
        left = []
    return Pairing(tuple(batches), bool(left) and bool(inputs), tuple(left), bool(outputs))


class Joiner:
    """Joins Batch halves as they come; what it gives back is counted (an Observation) or skipped (a Skip).

    `take` gives back what one half settles (or None: it waits); inputs that waited too long are put in
    `overflow` for the caller to count.
    """

    MAX_WAITING = 100_000  # halves waiting, when no output file was given (two full batches)

    def __init__(self, names: list[str], pairing: Pairing) -> None:
        self.names = names
        self.pairing = pairing
        self._batches, self._alone_mode = pairing.batches, pairing.by_custom_id_alone  # read once per line
        self._bounded = not pairing.outputs_given
        # batch -> custom_id -> the half waiting for its partner (a dict per batch: no key tuple per half)
        self.pending: dict[int, dict[str, BatchHalf]] = {}
        self.waiting = 0  # halves waiting, counted only when bounded (no output file given)
        # hash(key) -> the input's source, the input line's digest and the output line's (0: none), packed in one
        # int: a tuple of three took 90 bytes more per request joined.
        self.done: dict[int, int] = {}
        self.unmatched = 0  # inputs counted without an output (estimated tokens)
        self.overflow: list[Observation | Skip] = []

    def take(self, half: BatchHalf) -> Observation | Skip | None:
        """One half: the joined request, or why it is skipped, or None while it waits for its partner."""
        # Runs once per Batch line: lookups are kept to the few each outcome needs.
        is_input, custom_id = half.is_input, half.custom_id
        batch = -1 if self._alone_mode else half.source if is_input else self._batches[half.source]
        mark = hash((batch, custom_id))
        waiting = self.pending.get(batch)
        if waiting is None:
            waiting = self.pending[batch] = {}
        partner = waiting.get(custom_id)
        if partner is None:
            settled = self.done.get(mark)
            if settled is not None:
                return self._again(half, _unpack(settled), mark)
            waiting[custom_id] = half
            if self._bounded:
                self.waiting += 1
                if self.waiting > self.MAX_WAITING:
                    self.overflow.append(self._oldest())
            return None
        if partner.is_input is is_input:
            if partner.digest == half.digest:
                return Skip.DUPLICATE_LINE
            raise self._collision(custom_id, partner.source, half.source, is_input)
        del waiting[custom_id]
        if self._bounded:
            self.waiting -= 1
        request, answer = (half, partner) if is_input else (partner, half)
        self.done[mark] = (request.source << 128) | ((request.digest & _DIGEST) << 64) | (answer.digest & _DIGEST)
        return merge_batch(partner, half)

    def finish(self) -> list[Observation | Skip]:
        """Inputs that never met their output count with estimated tokens; outputs without input are skipped."""
        results = [self._alone(half) for waiting in self.pending.values() for half in waiting.values()]
        self.pending.clear()
        self.waiting = 0
        return results

    def _again(self, half: BatchHalf, settled: tuple[int, int, int], mark: int) -> Skip:
        """A half whose request was already counted: a duplicate, a late output, or a collision."""
        source, input_digest, output_digest = settled
        digest = half.digest & _DIGEST
        if half.is_input:
            if digest == input_digest:
                return Skip.DUPLICATE_LINE
            raise self._collision(half.custom_id, source, half.source, True)
        if not output_digest:  # its input was counted alone (it waited too long): too late to join
            self.done[mark] = _pack(source, input_digest, half.digest)
            return Skip.BATCH_OUTPUT_AFTER_INPUT
        if digest == output_digest:
            return Skip.DUPLICATE_LINE
        raise self._collision(half.custom_id, source, half.source, False)

    def _oldest(self) -> Observation | Skip:
        batch, waiting = next((batch, waiting) for batch, waiting in self.pending.items() if waiting)
        custom_id = next(iter(waiting))
        half = waiting.pop(custom_id)
        self.waiting -= 1  # only called when bounded, where `waiting` is counted
        if half.is_input:
            self.done[hash((batch, custom_id))] = _pack(half.source, half.digest, 0)
        return self._alone(half)

    def _alone(self, half: BatchHalf) -> Observation | Skip:
        if half.skip is not None:
            return half.skip
        if half.observation is None:
            return Skip.BATCH_OUTPUT_WITHOUT_INPUT
        self.unmatched += 1
        return half.observation

    def _collision(self, custom_id: str, first: int, second: int, inputs: bool) -> BatchCollision:
        where = (
            f"twice in {self.names[first]}"
            if first == second
            else f"in {self.names[first]} and in {self.names[second]}"
        )
        what = "two different Batch requests" if inputs else "two different Batch answers to one request"
        if self.pairing.by_custom_id_alone:
            files = ", ".join(self.names[i] for i in self.pairing.unpaired)
            how = (
                f"the output file(s) {files} could not be paired with one input file by name or order, so each "
                "custom_id must name one request across all inputs; name each output file like its input "
                "(x-input.jsonl / x-output.jsonl) or give one output file per input file, in the same order"
            )
        else:
            how = (
                "a batch holds each custom_id once, so these lines come from different batches: give each batch's "
                "input and output as files of their own (a stream is read as one batch)"
            )
        return BatchCollision(f"custom_id {custom_id!r} names {what} ({where}): {how}")


_DIGEST = (1 << 64) - 1


def _pack(source: int, input_digest: int, output_digest: int) -> int:
    return (source << 128) | ((input_digest & _DIGEST) << 64) | (output_digest & _DIGEST)


def _unpack(packed: int) -> tuple[int, int, int]:
    return packed >> 128, (packed >> 64) & _DIGEST, packed & _DIGEST
