// RunContext: what the event loops of one run share. The runner (one thread) owns it and
// moves the run through its phases; each Worker (one thread each) reads the phase and the
// window times, and updates the streams of its own subscribers. The stream accounting of a
// subscriber is written only by the worker that owns that subscriber; the `progress` atomics
// are read by publishers on any worker (end-to-end flow control).
#pragma once
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bench/bench_options.h"
#include "bench/plan.h"
#include "bench/stream_tracker.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace mqbase::bench {

class Worker;

enum class Phase : int {
  connecting,  // opening connections; nothing published yet
  running,     // publishers publish until end_ns (workers stop by themselves at end_ns)
  draining,    // after end_ns: waiting for outstanding deliveries and acknowledgements
  closing,     // send DISCONNECT, close every socket, leave the loop
};

// One (publisher, subscriber) stream as the subscriber sees it.
struct Stream {
  explicit Stream(bool from_zero) : tracker(from_zero) {}
  StreamTracker tracker;
  std::atomic<uint64_t> progress{0};  // tracker.next(), published for the publisher's window
};

// The streams of one subscriber, indexed by publisher id - first.
struct SubscriberStreams {
  uint32_t first = 0;
  bool known = true;  // false: created on demand as publishers show up (the `sub` scenario)
  std::vector<std::unique_ptr<Stream>> streams;
};

struct RunContext {
  RunContext(const BenchOptions& o, const Plan& p) : opt(o), plan(p) {}

  const BenchOptions& opt;
  const Plan& plan;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::string addr_text;  // "host:port" for messages
  // The TLS client context (BenchOptions::tls), shared by the workers (OpenSSL makes SSL
  // objects from one context on several threads); null for plain TCP. Owned by the runner.
  ssl_ctx_st* tls = nullptr;

  std::vector<SubscriberStreams> subscribers;  // by subscriber id
  std::vector<Worker*> workers;

  std::atomic<Phase> phase{Phase::connecting};
  // Set before phase becomes running, read after: plain values published by that store.
  int64_t start_ns = 0;          // publishing starts
  int64_t measure_begin_ns = 0;  // start + warm-up
  int64_t storm_begin_ns = 0;    // the storm starts (== end_ns without one)
  int64_t end_ns = 0;            // publishing stops

  std::atomic<uint32_t> ready{0};   // connections fully set up
  std::atomic<uint32_t> failed{0};  // connections that never got there

  // The first error of the run, for the report.
  void note_error(const std::string& what) {
    std::lock_guard lock(error_mu_);
    if (first_error_.empty()) first_error_ = what;
  }
  std::string first_error() const {
    std::lock_guard lock(error_mu_);
    return first_error_;
  }

 private:
  mutable std::mutex error_mu_;
  std::string first_error_;
};

}  // namespace mqbase::bench
