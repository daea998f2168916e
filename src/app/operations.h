// Operations: what an operator, Prometheus and the console read off a running server over
// its HTTP port (docs/operations.md):
//
//   GET  /ready                         200 {"status":"ready"} once recovery has finished and
//                                       the listeners are up; 503 before, and while stopping
//   GET  /metrics                       Prometheus text format 0.0.4 (metrics())
//   GET  /api/overview[?since=MS]       the console's overview: a sample every 5 s over the
//                                       last hour, the samples after MS (ms since the epoch)
//   POST /api/clients/disconnect?client_id=ID
//                                       ends that client's connection (MQTT 5: DISCONNECT 0x98)
//
// /ready is answered without credentials, like /health; the others go through the HTTP
// authorizer (app/http_access.h), which maps /metrics and /api/overview to reading $SYS and a
// disconnect to writing $CONTROL/mqbase/disconnect.
//
// Thread-safety: handle(), metrics() and set_ready() from any thread; observe_query() from
// the query threads. A sampler thread of its own runs between start() and stop().
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "http/answer.h"
#include "http/query_pool.h"
#include "http/request.h"
#include "store/histogram.h"

namespace mqbase::broker {
class Broker;
}
namespace mqbase::store {
class Store;
namespace tables {
class Tables;
}
}  // namespace mqbase::store
namespace mqbase::ingest {
class Ingest;
}

namespace mqbase::app {

class Operations {
 public:
  // Every source outlives this object; `ingest` and `queries` may be null.
  Operations(broker::Broker& broker, store::Store& store, store::tables::Tables& tables, ingest::Ingest* ingest,
             http::QueryPool* queries);
  ~Operations();  // stop()
  Operations(const Operations&) = delete;
  Operations& operator=(const Operations&) = delete;

  // Starts the sampler (a sample now, then every `interval`, keeping `keep` of them).
  void start(std::chrono::milliseconds interval = std::chrono::seconds(5), size_t keep = 720);
  void stop();

  void set_ready(bool ready) { ready_.store(ready, std::memory_order_relaxed); }
  // One SQL statement ran (over HTTP, over MQTT or from the console), for
  // mqbase_queries_total and mqbase_query_seconds.
  void observe_query(std::chrono::steady_clock::duration took, bool ok);

  // The answer for an operations path, or nullopt for any other path.
  std::optional<http::Response> handle(const http::Request& r);
  std::string metrics() const;

  struct Sample {
    int64_t time_ms = 0;
    uint64_t clients = 0, messages_in = 0, messages_out = 0, bytes_in = 0, bytes_out = 0, dropped = 0;
    uint64_t storage_bytes = 0, wal_fsyncs = 0;
    double wal_fsync_seconds = 0;
  };
  Sample sample() const;
  std::string overview_json(int64_t since_ms) const;

 private:
  void sampler(std::chrono::milliseconds interval, size_t keep);

  broker::Broker& broker_;
  store::Store& store_;
  store::tables::Tables& tables_;
  ingest::Ingest* ingest_;
  http::QueryPool* queries_;
  std::atomic<bool> ready_{false};
  store::Histogram query_latency_;
  std::atomic<uint64_t> queries_ok_{0}, queries_failed_{0};
  const double start_time_;  // seconds since the epoch

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::deque<Sample> samples_;                // under mu_
  std::chrono::milliseconds interval_{5000};  // under mu_
  std::thread thread_;
};

}  // namespace mqbase::app
