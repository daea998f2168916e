// QueryTopic: SQL over MQTT (docs/http.md#over-mqtt). A client publishes
//   {"q": "SELECT ...", "format": "json", "timeformat": ..., "tz": ..., "params": [...], "reply": "topic"}
// to `db/query`; the query runs on the query pool (never on the event loop that received it)
// and its answer, the same bytes /db/query would send over HTTP, is published to the
// request's MQTT 5 Response Topic with its Correlation Data, else to the `reply` member (or a
// `reply` user property), else to `db/reply`. Errors (bad JSON, no "q", a full pool, a failing
// query) are answered there too as {"success":false,"reason":...}; an MQTT 5 publisher also
// gets the reason on its PUBACK (0x99 for a bad request, 0x97 when the pool is full).
//
// It is the broker's MessageSink, in front of the ingest sink (`next`): db/query is its own,
// every other topic goes to `next`. The broker knows nothing of SQL. Subscribers of db/query
// still receive the requests, as from any broker.
//
// Thread-safety: wants() and take() run on every event loop at once; answers are published
// from the pool's threads, quick error replies from a reply thread of its own.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "broker/message_sink.h"
#include "http/query_pool.h"
#include "http/query_runner.h"

namespace mqbase::broker {
class Broker;
}

namespace mqbase::http {

// A topic a reply may go to: not empty, no wildcards, no NUL.
bool valid_reply_topic(std::string_view t);

class QueryTopic : public broker::MessageSink {
 public:
  static constexpr std::string_view kTopic = "db/query";
  static constexpr std::string_view kDefaultReply = "db/reply";

  // `next` (may be null) takes every other topic; `broker`, `next` and `pool` outlive this.
  // limits.may_stream is ignored (an MQTT answer is one message); limits.max_whole caps it.
  QueryTopic(broker::Broker& broker, broker::MessageSink* next, QueryPool& pool, Execute execute, QueryLimits limits);
  ~QueryTopic() override;  // stop()
  QueryTopic(const QueryTopic&) = delete;
  QueryTopic& operator=(const QueryTopic&) = delete;

  bool wants(std::string_view topic) const override;
  Outcome take(const broker::Message& m, const Publisher& publisher) override;
  // next's, and query/mqtt requests, query/mqtt errors.
  std::vector<std::pair<std::string, std::string>> sys_figures() const override;

  // Ends the reply thread (replies still queued are dropped). Idempotent. Queries already on
  // the pool end with the pool.
  void stop();

 private:
  void queue_reply(broker::MessagePtr reply);
  void reply_loop();

  broker::Broker& broker_;
  broker::MessageSink* next_;
  QueryPool& pool_;
  Execute execute_;
  QueryLimits limits_;
  std::atomic<uint64_t> requests_{0};
  std::shared_ptr<std::atomic<uint64_t>> errors_ = std::make_shared<std::atomic<uint64_t>>(0);

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<broker::MessagePtr> replies_;
  bool stop_ = false;
  std::thread replier_;
};

}  // namespace mqbase::http
