// WatchStreams: GET /db/watch/{table} (docs/http.md#watch): the rows written to a table from
// now on, as server-sent events, one `data: {...}` event per row (the columns as keys, in
// schema order), for as long as the client stays. Query parameters naming tag columns keep
// the rows whose tag has one of the values given (AND across columns); `timeformat`, `tz` and
// `precision` format values as /db/query does.
//
// Each stream is a watcher of Tables (Tables::add_watcher): on the thread that wrote them, a
// write's rows are filtered, formatted (query/format.h's ndjson writer, as events) and handed
// to the stream's Answer without waiting. A client that reads slower than its rows come lets
// them pile up in the Answer; once kMaxQueued bytes wait the stream is cut: it ends with an
// `event: error` that says how many rows it dropped, and stats() counts it. So a watcher
// never holds up a writer, and with nobody watching a write pays nothing (Tables' contract).
//
// A thread of its own writes a `: keep-alive` comment on streams quiet for keep_alive, and
// takes the watchers of streams whose client went away off the table (at once: Answer's
// cancel hook wakes it). DROP TABLE ends the table's streams with an error event; stop() (the
// server stops) ends every stream.
//
// Thread-safety: start(), status(), stats() and stop() from any thread (the HTTP I/O thread);
// the watchers run on the threads that write the tables.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "http/answer.h"
#include "http/request.h"

namespace mqbase::store::tables {
class Tables;
}

namespace mqbase::http {

class WatchStreams {
 public:
  static constexpr std::chrono::milliseconds kKeepAlive{15000};  // a comment on a quiet stream this often
  static constexpr size_t kMaxQueued = 4 << 20;                  // bytes waiting for a client; past it: cut

  // `tables` (null: every watch answers 503) outlives this.
  explicit WatchStreams(store::tables::Tables* tables, std::chrono::milliseconds keep_alive = kKeepAlive,
                        size_t max_queued = kMaxQueued);
  ~WatchStreams();  // stop()
  WatchStreams(const WatchStreams&) = delete;
  WatchStreams& operator=(const WatchStreams&) = delete;

  // GET /db/watch/{table} with the request's parameters: an error Response (404 no such table,
  // 400 a bad parameter or a filter on a column that is not a tag, 503 stopping), or nullopt
  // when the stream has begun on `answer` (text/event-stream, first `: watching <table>`).
  std::optional<Response> start(std::string_view table, const Request& request, const std::shared_ptr<Answer>& answer);

  struct Stats {
    uint64_t active = 0;    // streams open now
    uint64_t started = 0;   // since the server started
    uint64_t cut_slow = 0;  // cut because their client read too slowly
    uint64_t rows = 0;      // rows sent as events
  };
  Stats stats() const;
  // GET /db/watch: stats() as JSON {"active":1,"started":3,"cut_slow":0,"rows":120}.
  Response status() const;

  // Ends every stream (`: server stopping`, then the end of the stream) and refuses new ones.
  // Idempotent.
  void stop();

  struct Hub;
  struct Stream;

 private:
  std::shared_ptr<Hub> hub_;
};

}  // namespace mqbase::http
