"""Random bytes for ids, read from the OS in chunks.

`secrets.token_hex` asks the kernel (getrandom) for every id, and CPython lets go of the GIL around
that call: on the event loop of a busy API process, getting the GIL back means waiting for the
group-commit writer or a pipeline thread to reach a switch point (up to 5 ms). One read of 4 kB
serves 400 publication ids. The bytes are the same CSPRNG output, only fetched ahead.
"""

from __future__ import annotations

import os
import threading

CHUNK = 4096


class _Entropy:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a forked child must not hand out its parent's bytes

    def _reset(self) -> None:
        self._buffer = b""
        self._at = 0

    def token_hex(self, nbytes: int) -> str:
        """Like `secrets.token_hex(nbytes)`."""
        with self._lock:
            if self._at + nbytes > len(self._buffer):
                self._buffer, self._at = os.urandom(max(CHUNK, nbytes)), 0
            chunk = self._buffer[self._at:self._at + nbytes]
            self._at += nbytes
        return chunk.hex()


_entropy = _Entropy()
token_hex = _entropy.token_hex
