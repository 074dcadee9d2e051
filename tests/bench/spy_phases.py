"""A py-spy recording of a govcast worker (collapsed stacks, `--format raw`) as CPU ms per publication by phase.

    .venv/bin/python -m tests.bench.spy_phases FILE [--publications N --cpu-seconds S]

Each sample is put in the first phase whose frame it contains (PHASES, most specific first); samples whose
innermost frame waits (epoll, an idle pool thread, a lock) are idle and left out. Shares are of the busy
samples; with the publications handled and the worker's measured CPU seconds, they become ms per
publication (bench_kafka --py-spy passes both). py-spy samples every thread of the process, including the
status store's and the adapters' threads that cProfile (--profile) does not see.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

# (phase, frame name prefixes); the first phase with a matching frame anywhere in the stack wins.
PHASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("projection (status store)", ("StatusStore.apply_status",)),
    ("screening (plan)", ("screen (processors/screen.py",)),
    ("plan, rest (render, outputs)", ("plan (processors/stages.py",)),
    ("deliver (pause check, adapter, outcome)", ("pausable.", "deliver (processors/stages.py", "ChannelThreads.")),
    ("decode (JSON, pydantic)", ("CloudEvent.from_json", "decode_change", "decode_task", "decode_status",
                                 "with_publication", "PublicationCache.validated")),
    ("encode outputs", ("outbound_for", "outbounds (", "status_outbound", "CloudEvent.to_json", "new_event")),
    ("produce (aiokafka send, acks)", ("FaustHost._send", "Sender.", "SendProduceReqHandler", "AIOKafkaClient.send",
                                       "Producer.send", "MessageAccumulator")),
    ("commit (offsets)", ("Consumer.commit", "Consumer._commit", "Consumer.force_commit", "Fetcher.commit",
                          "GroupCoordinator.commit")),
    ("consume (fetch, faust streams, acks)", ("Fetcher.", "Consumer.", "Conductor.", "Stream.", "Agent.",
                                              "WorkerThread.", "FaustHost._agent_fun", "AIOKafkaConsumer.")),
    ("event loop, threads (other)", ("",)),
)
IDLE_LEAVES = ("EpollSelector.select", "_worker (concurrent/futures/thread.py:81)", "Condition.wait",
               "Event.wait", "Thread._wait_for_tstate_lock", "sleep (")


def phase_of(frames: list[str]) -> str | None:
    """The phase of one sample (None: idle)."""
    if not frames or not frames[-1] or frames[-1].startswith(IDLE_LEAVES):
        return None
    for phase, prefixes in PHASES:
        if any(frame.startswith(prefixes) for frame in frames):
            return phase
    return PHASES[-1][0]


def phases(path: Path) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        phase = phase_of([f for f in stack.split(";") if f.strip()][1:])  # the first frame names the thread
        counts[phase or "idle"] += int(n)
    return counts


def table(path: Path, publications: int = 0, cpu_seconds: float = 0.0) -> str:
    counts = phases(path)
    busy = sum(n for p, n in counts.items() if p != "idle")
    lines = [f"py-spy {path.name}: {busy} busy samples ({counts['idle']} idle left out)"]
    for phase, _ in PHASES:
        share = counts[phase] / busy if busy else 0.0
        ms = f"{share * cpu_seconds * 1000 / publications:7.2f} ms/publication" if publications and cpu_seconds else ""
        lines.append(f"  {phase:42}{share * 100:6.1f} %  {ms}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path)
    parser.add_argument("--publications", type=int, default=0)
    parser.add_argument("--cpu-seconds", type=float, default=0.0, help="the worker's CPU seconds while sampled")
    args = parser.parse_args()
    print(table(args.file, args.publications, args.cpu_seconds))


if __name__ == "__main__":
    main()
