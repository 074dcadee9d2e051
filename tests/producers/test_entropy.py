"""Publication ids from pre-read OS randomness: distinct, the same shape as before, and never shared with a fork."""

from __future__ import annotations

import os

from producers import entropy


def test_ids_are_distinct_across_chunk_refills() -> None:
    ids = [entropy.token_hex(10) for _ in range(3 * entropy.CHUNK // 10)]  # three refills of the buffer
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 20 and int(i, 16) >= 0 for i in ids)


def test_a_forked_child_does_not_reuse_the_parents_bytes() -> None:
    entropy.token_hex(10)  # the buffer holds bytes the parent has not handed out yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id must not be the parent's next one
        os.write(write, entropy.token_hex(10).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert child != entropy.token_hex(10)
