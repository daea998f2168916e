// thread_setup: what the server's threads say about themselves to the OS. A name (the store's
// threads and the event loops; shown by top -H, ps -L, gdb and perf) and, for work that may
// wait, a lower priority: a checkpoint or a segment being zero-filled must not take the core
// from an event loop, whose latency every acknowledgement waits on. (RocksDB lowers its
// compaction threads the same way.)
// Thread-safety: each call affects the calling thread only.
#pragma once

namespace mqbase::store {

// Names the calling thread (at most 15 characters are kept, e.g. "mqbase-wal").
void name_this_thread(const char* name);
// Raises the calling thread's nice value by `increment` (Linux: per thread). Failure is
// ignored: the thread then runs at the process's priority, as before.
void lower_this_thread_priority(int increment);

}  // namespace mqbase::store
