// Replay: past messages of a topic filter, read back from an archive rule's table
// (docs/replay.md), and sent to one client before its live messages (broker/replay.h).
//
// Two ways to ask:
//   - SUBSCRIBE (MQTT 5) with the user property replay-from = a time ("2026-12-06T10:00:00Z",
//     an epoch number, or a duration back from now: "1h", "15m", "2d"): the archived messages
//     matching the filter since then, in time order, then the live ones, with no gap and no
//     duplicate at the seam.
//   - PUBLISH to db/replay {"filter": "plant/#", "from": ..., "to": ..., "topic": "prefix",
//     "qos": 1}: the archived messages in [from, to) (to: now when absent) go to the
//     requesting client only, on their own topics or under "prefix/". The answer,
//     {"success":true,"reason":"replayed N message(s)",...} or the error, follows them on the
//     Response Topic (with its Correlation Data) or the "reply" member, when one is given.
//
// The filter must lie within one archive rule's filter ("plant/+/temp" within "plant/#").
// Messages are read a page at a time (a time window that adapts to the density of the
// table) on a thread of their own, and sent as the client's in-flight window allows; at most
// two pages per replay are in memory, so replaying a year costs what replaying a minute does.
//
// It is the broker's ReplayProvider, and a MessageSink in front of `next` that takes db/replay.
//
// Thread-safety: prepare()/start() and wants()/take() run on every event loop at once; the
// pages are read on the replay thread.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/message_sink.h"
#include "broker/replay.h"
#include "http/query_pool.h"

namespace mqbase::broker {
class Broker;
}
namespace mqbase::store::tables {
class Tables;
}

namespace mqbase::http {

// An archive rule as replay needs it: its topic filter and its table.
struct ArchiveSource {
  std::string filter;
  std::string table;
};

// Whether every topic `inner` matches also matches `outer` (both valid topic filters).
bool filter_within(std::string_view inner, std::string_view outer);

// A time as replay-from and db/replay take it, in ns since the epoch; `now_ns` for durations.
// False with *error naming what was expected.
bool parse_replay_time(std::string_view text, int64_t now_ns, int64_t* ns, std::string* error);

struct ReplayStats {
  uint64_t requests = 0, messages = 0, errors = 0;
  size_t active = 0;
};

class ArchiveReplay : public broker::ReplayProvider, public broker::MessageSink {
 public:
  static constexpr std::string_view kTopic = "db/replay";
  static constexpr size_t kMaxActive = 1024;  // replays under way at once

  // `broker`, `tables` and `next` (may be null) outlive this.
  ArchiveReplay(broker::Broker& broker, store::tables::Tables& tables, broker::MessageSink* next,
                std::vector<ArchiveSource> sources);
  ~ArchiveReplay() override;  // stop()
  ArchiveReplay(const ArchiveReplay&) = delete;
  ArchiveReplay& operator=(const ArchiveReplay&) = delete;

  // ReplayProvider
  std::shared_ptr<broker::ReplayFeed> prepare(const std::string& filter, uint8_t qos, std::string_view from,
                                              std::string* error) override;
  void start(const std::shared_ptr<broker::ReplayFeed>& feed, const std::shared_ptr<broker::Session>& session) override;

  // MessageSink
  bool wants(std::string_view topic) const override;
  Outcome take(const broker::Message& m, const Publisher& publisher) override;
  std::vector<std::pair<std::string, std::string>> sys_figures() const override;

  // Ends the reading thread; replays under way stop where they are. Idempotent.
  void stop();
  ReplayStats stats() const;

  struct Shared;  // what the feeds share with this (they may outlive it)

 private:
  broker::Broker& broker_;
  broker::MessageSink* next_;
  std::vector<ArchiveSource> sources_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace mqbase::http
