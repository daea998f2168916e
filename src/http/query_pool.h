// QueryPool: the threads that SQL queries (and HTTP writes) run on, so that none runs on an
// MQTT event loop or on the HTTP I/O thread. A fixed number of threads takes jobs from a
// bounded queue; when every thread is busy and the queue is full, try_submit() refuses at once
// and the caller answers "busy" (HTTP 503, an error reply over MQTT) instead of piling work
// up. The threads run at a lower priority (nice +5) than the event loops: a heavy query slows
// itself, not the MQTT traffic (docs/http.md#the-query-pool).
//
// A job may carry a cancel flag; stop() sets the flags of every job queued or running, so that
// a query stops at its next chunk (QueryOptions::cancel).
//
// Thread-safety: every method is safe from any thread. Jobs run on the pool's threads; a job
// dropped by stop() is destroyed on the thread that called stop().
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mqbase::http {

class QueryPool {
 public:
  using CancelFlag = std::shared_ptr<std::atomic<bool>>;

  // Starts `threads` threads (at least 1) named `name` ("mqbase-query"); at most `queue_limit`
  // jobs wait for a thread (0: none wait, a job runs only when a thread is free). The threads
  // start with SIGINT, SIGTERM and SIGHUP blocked (the server reads them from a signalfd).
  QueryPool(std::string name, unsigned threads, size_t queue_limit);
  ~QueryPool();  // stop()
  QueryPool(const QueryPool&) = delete;
  QueryPool& operator=(const QueryPool&) = delete;

  // Queues `job` and returns true; false (and `job` is destroyed) when the queue is full or
  // the pool stopped. `cancel` (may be null) is set by stop().
  bool try_submit(std::function<void()> job, CancelFlag cancel = nullptr);

  // Sets the cancel flag of every queued and running job, drops the queued ones, waits for
  // the running ones to return and joins the threads. Idempotent.
  void stop();

  struct Stats {
    size_t running = 0, queued = 0;
    uint64_t done = 0, rejected = 0;
  };
  Stats stats() const;
  unsigned threads() const { return thread_count_; }
  size_t queue_limit() const { return queue_limit_; }

 private:
  struct Job {
    std::function<void()> run;
    CancelFlag cancel;
  };
  void work();

  const size_t queue_limit_;
  const unsigned thread_count_;
  std::mutex stop_mu_;  // one stop() at a time joins the threads
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  std::vector<CancelFlag> running_;  // the cancel flags of the jobs running now
  size_t busy_ = 0;
  uint64_t done_ = 0, rejected_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace mqbase::http
