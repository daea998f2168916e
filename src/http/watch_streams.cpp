// WatchStreams: see watch_streams.h.
//
// Locks, in the order they may be taken: a Stream's mu, then its Answer's (and the Poster's
// behind it), then the Hub's mu. The Hub's thread copies the stream list and lets go of the
// Hub's mu before it takes a Stream's. Tables::remove_watcher() waits for a delivery under
// way, which takes a Stream's mu: it is never called with one held.
#include "http/watch_streams.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/query_request.h"
#include "http/router.h"
#include "query/engine.h"
#include "query/format.h"
#include "store/tables.h"
#include "store/thread_setup.h"

namespace mqbase::http {

namespace tb = store::tables;
using Clock = std::chrono::steady_clock;

namespace {

// The parameters that say how events look; every other one filters on a tag column.
constexpr std::string_view kFormatParams[] = {"format", "timeformat", "tz", "precision"};

bool is_format_param(std::string_view name) {
  return std::any_of(std::begin(kFormatParams), std::end(kFormatParams),
                     [&](std::string_view p) { return iequals(p, name); });
}

// "event: error\ndata: {"reason":"..."}\n\n"
std::string error_event(std::string_view reason) {
  std::string s = "event: error\ndata: {\"reason\":";
  query::append_json_string(reason, s);
  s += "}\n\n";
  return s;
}

// " (its tags: device, site)" or " (it has no tag columns)".
std::string tag_hint(const tb::Schema& s) {
  std::string names;
  for (int c : s.tag_indexes()) names += (names.empty() ? "" : ", ") + s.columns[static_cast<size_t>(c)].name;
  return names.empty() ? " (it has no tag columns)" : " (its tags: " + names + ")";
}

// Rows `rows` of `b` as a chunk of the schema's columns: a tag a series lacks is "" (as a
// scan reads it), a field the batch lacks NULL.
query::Chunk rows_chunk(const tb::Schema& s, const tb::RowBatch& b, const std::vector<uint32_t>& rows) {
  query::Chunk c;
  c.rows = rows.size();
  size_t tag = 0, field = 0;
  for (const tb::Column& col : s.columns) {
    query::Type type = query::query_type(col.type);
    if (tb::is_field(col.type) && field >= b.fields.size()) {
      c.columns.push_back(query::Vector::make_constant(query::Value::make_null(type), rows.size()));
      continue;
    }
    query::Vector v;
    v.type = type;
    v.size = rows.size();
    if (col.type == tb::ColumnType::time) {
      for (uint32_t r : rows) v.i.push_back(b.times[r]);
    } else if (col.type == tb::ColumnType::tag) {
      size_t k = tag++;
      for (uint32_t r : rows) {
        const std::vector<std::string>& tags = b.series[b.row_series[r]];
        v.s.push_back(k < tags.size() ? tags[k] : std::string());
      }
    } else {
      const tb::FieldValues& fv = b.fields[field++];
      if (std::any_of(rows.begin(), rows.end(), [&](uint32_t r) { return !fv.valid[r]; }))
        for (uint32_t r : rows) v.valid.push_back(fv.valid[r]);
      for (uint32_t r : rows) {
        if (type == query::Type::float64) v.f.push_back(fv.f[r]);
        else if (query::uses_ints(type)) v.i.push_back(fv.i[r]);
        else v.s.push_back(fv.s[r]);
      }
    }
    c.columns.push_back(std::move(v));
  }
  return c;
}

}  // namespace

struct WatchStreams::Hub {
  tb::Tables* tables;
  std::chrono::milliseconds keep_alive;
  size_t max_queued;
  std::atomic<uint64_t> started{0}, cut_slow{0}, rows{0};

  std::mutex mu;
  std::condition_variable wake_cv;
  std::vector<std::shared_ptr<Stream>> streams;
  bool stopped = false, sweep = false;
  std::thread thread;  // started with the first stream

  Hub(tb::Tables* t, std::chrono::milliseconds k, size_t q) : tables(t), keep_alive(k), max_queued(q) {}

  void wake() {
    {
      std::lock_guard lock(mu);
      sweep = true;
    }
    wake_cv.notify_one();
  }
  void run();
};

// One GET /db/watch/{table}.
struct WatchStreams::Stream {
  std::string table, peer;
  std::shared_ptr<Answer> answer;
  query::FormatOptions format;
  std::vector<std::pair<std::string, std::vector<std::string>>> filter;  // tag column -> any of these values

  // The rest: the writing threads (one at a time: Tables' turn), the Hub's thread, stop().
  std::mutex mu;
  uint64_t watcher = 0;  // Tables' id
  bool ended = false;
  Clock::time_point last_sent = Clock::now();
  std::shared_ptr<const tb::Schema> schema;  // what writer and filter_at were made for
  std::unique_ptr<query::ResultWriter> writer;
  std::vector<std::pair<size_t, const std::vector<std::string>*>> filter_at;  // tag position -> values
  std::string text;  // one write's events

  // The writer and the filter's tag positions for `s`: "" or what is wrong (for a 400).
  std::string bind(const std::shared_ptr<const tb::Schema>& s) {
    std::vector<int> tags = s->tag_indexes();
    std::vector<std::pair<size_t, const std::vector<std::string>*>> at;
    for (const auto& [name, values] : filter) {
      int c = s->find(name);
      if (c < 0) return "column '" + name + "' does not exist in table '" + s->name + "'" + tag_hint(*s);
      if (s->columns[static_cast<size_t>(c)].type != tb::ColumnType::tag)
        return "column '" + name + "' of table '" + s->name + "' is not a tag: only tags filter a watch" + tag_hint(*s);
      at.emplace_back(static_cast<size_t>(std::find(tags.begin(), tags.end(), c) - tags.begin()), &values);
    }
    std::string error;
    auto w = query::make_writer(format, [this](std::string_view b) { text.append(b); return true; }, &error);
    if (!w) return error;
    std::vector<query::ColumnInfo> columns;
    for (const tb::Column& col : s->columns) columns.push_back({col.name, query::query_type(col.type)});
    w->begin(columns);
    writer = std::move(w);
    filter_at = std::move(at);
    schema = s;
    return "";
  }

  // With mu held: `last` is the stream's last text; `close`: the connection goes too.
  void end(std::string_view last, bool close = false) {
    ended = true;
    answer->stream_offer(last, SIZE_MAX);
    answer->stream_end(close);
  }

  // Tables' watcher: false ends the watch.
  bool on_rows(Hub& hub, const tb::WatchedRows& w) {
    std::lock_guard lock(mu);
    if (ended) return false;
    if (answer->cancelled()) {  // the client is gone (the cancel hook has woken the hub)
      ended = true;
      return false;
    }
    if (!w.rows) {
      end(error_event("table '" + table + "' was dropped"));
      hub.wake();
      return false;
    }
    if (w.schema != schema) {
      if (std::string e = bind(w.schema); !e.empty()) {
        end(error_event(e));
        hub.wake();
        return false;
      }
    }
    const tb::RowBatch& b = *w.rows;
    std::vector<uint8_t> pass(b.series.size(), 1);
    for (size_t j = 0; j < b.series.size(); ++j) {
      for (const auto& [k, values] : filter_at) {
        std::string_view v = k < b.series[j].size() ? std::string_view(b.series[j][k]) : std::string_view();
        if (std::find(values->begin(), values->end(), v) == values->end()) {
          pass[j] = 0;
          break;
        }
      }
    }
    std::vector<uint32_t> rows;
    for (uint32_t r = 0; r < b.rows(); ++r)
      if (pass[b.row_series[r]]) rows.push_back(r);
    if (rows.empty()) return true;
    text.clear();
    writer->rows(rows_chunk(*schema, b, rows));
    bool sent = answer->stream_offer(text, hub.max_queued);
    if (text.capacity() > (1u << 20)) std::string().swap(text);  // a burst's buffer is not kept
    if (sent) {
      last_sent = Clock::now();
      hub.rows += rows.size();
      return true;
    }
    if (answer->cancelled()) {
      ended = true;
      return false;
    }
    ++hub.cut_slow;
    spdlog::info("http: GET /db/watch/{} from {}: cut, its client reads too slowly (over {} bytes waited; {} rows "
                 "dropped)", table, peer, hub.max_queued, rows.size());
    end(error_event("watcher too slow: " + std::to_string(rows.size()) + " rows dropped"), true);
    hub.wake();
    return false;
  }
};

void WatchStreams::Hub::run() {
  std::unique_lock lock(mu);
  Clock::time_point next = Clock::now() + keep_alive;
  while (true) {
    wake_cv.wait_until(lock, next, [&] { return stopped || sweep; });
    if (stopped) return;
    sweep = false;
    std::vector<std::shared_ptr<Stream>> all = streams;
    lock.unlock();
    Clock::time_point now = Clock::now();
    next = now + keep_alive;
    std::vector<std::pair<std::shared_ptr<Stream>, uint64_t>> gone;
    for (auto& s : all) {
      std::lock_guard sl(s->mu);
      if (s->ended || s->answer->cancelled()) {
        s->ended = true;
        gone.emplace_back(s, s->watcher);
        continue;
      }
      if (now - s->last_sent >= keep_alive) {
        // Refused when the queue is full: then the stream is not quiet anyway.
        s->answer->stream_offer(": keep-alive\n\n", max_queued);
        s->last_sent = now;
      }
      next = std::min(next, s->last_sent + keep_alive);
    }
    for (auto& [s, id] : gone) tables->remove_watcher(id);
    lock.lock();
    std::erase_if(streams, [&](const std::shared_ptr<Stream>& s) {
      return std::any_of(gone.begin(), gone.end(), [&](const auto& g) { return g.first == s; });
    });
  }
}

WatchStreams::WatchStreams(tb::Tables* tables, std::chrono::milliseconds keep_alive, size_t max_queued)
    : hub_(std::make_shared<Hub>(tables, keep_alive, max_queued)) {}

WatchStreams::~WatchStreams() { stop(); }

std::optional<Response> WatchStreams::start(std::string_view table, const Request& request,
                                            const std::shared_ptr<Answer>& answer) {
  Hub& h = *hub_;
  if (!h.tables) return error_response(503, "watching tables is not available on this server");
  auto s = std::make_shared<Stream>();
  s->table = std::string(table);
  s->peer = request.peer;
  s->answer = answer;
  Params format_params;
  for (const auto& [name, value] : request.query.all()) {
    if (is_format_param(name)) {
      format_params.set(name, value);
      continue;
    }
    auto f = std::find_if(s->filter.begin(), s->filter.end(), [&](const auto& e) { return iequals(e.first, name); });
    if (f == s->filter.end()) f = s->filter.insert(f, {name, {}});
    f->second.push_back(value);
  }
  QueryRequest q;
  std::string error;
  if (!query_request_from_params(format_params, &q, &error)) return error_response(400, error);
  if (!q.format.format.empty() && !iequals(q.format.format, "json"))
    return error_response(400, "format '" + q.format.format + "' is not available here: each event is a JSON object (format=json)");
  s->format = format_options(q.format);
  s->format.format = "ndjson";
  s->format.event_stream = true;
  std::shared_ptr<const tb::Schema> schema = h.tables->schema(table);
  if (!schema) return error_response(404, "table '" + std::string(table) + "' does not exist");
  if (std::string e = s->bind(schema); !e.empty()) return error_response(400, e);
  {
    std::lock_guard lock(h.mu);
    if (h.stopped) return error_response(503, "the server is stopping");
    if (!h.thread.joinable())
      h.thread = std::thread([hub = &h] {
        store::name_this_thread("mqbase-watch");
        hub->run();
      });
  }
  // The comment first: the connection writes nothing before this call has returned, and by
  // then the watcher is there, so whatever is written after the client read it arrives.
  answer->stream_begin_with("text/event-stream", {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}});
  answer->stream_offer(": watching " + schema->name + "\n\n", SIZE_MAX);
  uint64_t id = h.tables->add_watcher(
      schema->name, [s, hub = hub_](const tb::WatchedRows& w) { return s->on_rows(*hub, w); }, &error);
  {
    std::lock_guard lock(s->mu);
    if (id == 0) {  // dropped a moment ago
      s->end(error_event(error));
      return std::nullopt;
    }
    s->watcher = id;
  }
  {
    std::lock_guard lock(h.mu);
    h.streams.push_back(s);
  }
  ++h.started;
  answer->on_cancel([weak = std::weak_ptr<Hub>(hub_)] {
    if (auto hub = weak.lock()) hub->wake();
  });
  spdlog::debug("http: {} watches table {}", request.peer, schema->name);
  return std::nullopt;
}

WatchStreams::Stats WatchStreams::stats() const {
  Hub& h = *hub_;
  std::vector<std::shared_ptr<Stream>> all;
  {
    std::lock_guard lock(h.mu);
    all = h.streams;
  }
  Stats st;
  for (const auto& s : all) {
    std::lock_guard lock(s->mu);
    st.active += !s->ended && !s->answer->cancelled();
  }
  st.started = h.started.load();
  st.cut_slow = h.cut_slow.load();
  st.rows = h.rows.load();
  return st;
}

Response WatchStreams::status() const {
  Stats st = stats();
  Response r;
  r.body = "{\"active\":" + std::to_string(st.active) + ",\"started\":" + std::to_string(st.started) +
           ",\"cut_slow\":" + std::to_string(st.cut_slow) + ",\"rows\":" + std::to_string(st.rows) + "}";
  return r;
}

void WatchStreams::stop() {
  Hub& h = *hub_;
  std::vector<std::shared_ptr<Stream>> all;
  {
    std::lock_guard lock(h.mu);
    h.stopped = true;
    all.swap(h.streams);
  }
  h.wake_cv.notify_all();
  if (h.thread.joinable()) h.thread.join();
  for (auto& s : all) {
    uint64_t id;
    {
      std::lock_guard lock(s->mu);
      id = s->watcher;
    }
    h.tables->remove_watcher(id);
    std::lock_guard lock(s->mu);
    if (!s->ended) s->end(": server stopping\n\n");
  }
}

}  // namespace mqbase::http
