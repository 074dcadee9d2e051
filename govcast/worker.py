"""`govcast worker`: one process running the pipeline on Kafka (processors.faust_host) until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from govcast.gc_tuning import tune_for_service
from govcast.runtime import Runtime
from processors.faust_host import FaustHost
from settings import Settings

log = logging.getLogger("govcast.faust")


def run_worker(settings: Settings) -> int:
    """`govcast worker`: the processors alone, until SIGTERM/SIGINT (exit 0 after a clean stop)."""
    # Until the loop's handlers are installed, SIGTERM interrupts like Ctrl-C: nothing has started, so exit 0.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        runtime = Runtime.build(settings)
    except KeyboardInterrupt:
        return 0
    tune_for_service()

    async def main() -> None:
        host = FaustHost(runtime)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, host.stop)
        log.info("govcast worker: group %s, broker %s, %d routes", host.group_id, settings.broker, len(host.table))
        await host.run()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass  # a signal before main() installed its handlers: nothing was consumed yet
    finally:
        runtime.close()
    log.info("govcast worker stopped")
    return 0
