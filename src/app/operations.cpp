#include "app/operations.h"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>

#include "bench/process_stats.h"
#include "broker/broker.h"
#include "http/router.h"
#include "ingest/ingest.h"
#include "query/format.h"
#include "store/store.h"
#include "store/tables.h"

namespace mqbase::app {
namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The Prometheus text exposition format, version 0.0.4: a HELP and a TYPE line per family,
// then its samples.
class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void value(std::string_view name, double v, std::string_view labels = {}) { sample(name, labels, fmt::format("{}", v)); }
  void value(std::string_view name, uint64_t v, std::string_view labels = {}) { sample(name, labels, fmt::format("{}", v)); }
  void one(std::string_view name, std::string_view type, std::string_view help, uint64_t v) {
    family(name, type, help);
    value(name, v);
  }
  void histogram(std::string_view name, std::string_view help, const store::Histogram::Snapshot& s) {
    family(name, "histogram", help);
    uint64_t cumulative = 0;
    std::string bucket = std::string(name) + "_bucket";
    for (size_t i = 0; i < store::Histogram::kBounds.size(); ++i) {
      cumulative += s.buckets[i];
      value(bucket, cumulative, fmt::format("le=\"{}\"", store::Histogram::kBounds[i]));
    }
    cumulative += s.buckets.back();
    value(bucket, cumulative, "le=\"+Inf\"");
    value(std::string(name) + "_sum", s.sum);
    value(std::string(name) + "_count", cumulative);
  }
  std::string take() { return std::move(out_); }

 private:
  void sample(std::string_view name, std::string_view labels, const std::string& v) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    out_ += v;
    out_ += '\n';
  }
  std::string out_;
};

// A label value: backslash, double quote and line feed escaped.
std::string label(std::string_view key, std::string_view v) {
  std::string s(key);
  s += "=\"";
  for (char c : v) {
    if (c == '\\' || c == '"') s += '\\';
    if (c == '\n') {
      s += "\\n";
      continue;
    }
    s += c;
  }
  s += '"';
  return s;
}

uint64_t open_fds() {
  uint64_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    if (n > 0) --n;  // the directory's own descriptor
  }
  return n;
}

}  // namespace

Operations::Operations(broker::Broker& broker, store::Store& store, store::tables::Tables& tables,
                       ingest::Ingest* ingest, http::QueryPool* queries)
    : broker_(broker),
      store_(store),
      tables_(tables),
      ingest_(ingest),
      queries_(queries),
      start_time_(static_cast<double>(wall_ms()) / 1000.0) {}

Operations::~Operations() { stop(); }

void Operations::start(std::chrono::milliseconds interval, size_t keep) {
  Sample first = sample();
  {
    std::lock_guard lock(mu_);
    interval_ = interval;
    samples_.push_back(first);
  }
  thread_ = std::thread([this, interval, keep] { sampler(interval, keep); });
}

void Operations::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Operations::sampler(std::chrono::milliseconds interval, size_t keep) {
  std::unique_lock lock(mu_);
  auto next = std::chrono::steady_clock::now() + interval;
  while (!wake_.wait_until(lock, next, [this] { return stopping_; })) {
    next += interval;
    lock.unlock();
    Sample s = sample();
    lock.lock();
    samples_.push_back(s);
    while (samples_.size() > keep) samples_.pop_front();
  }
}

void Operations::observe_query(std::chrono::steady_clock::duration took, bool ok) {
  query_latency_.observe(took);
  (ok ? queries_ok_ : queries_failed_).fetch_add(1, std::memory_order_relaxed);
}

Operations::Sample Operations::sample() const {
  const broker::Stats& st = broker_.stats();
  Sample s;
  s.time_ms = wall_ms();
  s.clients = broker::Stats::get(st.clients_connected);
  s.messages_in = st.publish_received_total();
  s.messages_out = st.publish_sent_total();
  s.bytes_in = broker::Stats::get(st.bytes_received);
  s.bytes_out = broker::Stats::get(st.bytes_sent);
  s.dropped = broker::Stats::get(st.publish_dropped);
  s.storage_bytes = store_.stats().wal_bytes_on_disk;
  for (const auto& t : tables_.list()) s.storage_bytes += t.bytes_on_disk;
  auto sync = store_.sync_latency().snapshot();
  s.wal_fsyncs = sync.count;
  s.wal_fsync_seconds = sync.sum;
  return s;
}

std::string Operations::overview_json(int64_t since_ms) const {
  std::lock_guard lock(mu_);
  std::string out = fmt::format("{{\"interval_ms\":{},\"samples\":[", interval_.count());
  bool first = true;
  for (const Sample& s : samples_) {
    if (s.time_ms <= since_ms) continue;
    fmt::format_to(std::back_inserter(out),
                   "{}{{\"time_ms\":{},\"clients\":{},\"messages_in\":{},\"messages_out\":{},\"bytes_in\":{},"
                   "\"bytes_out\":{},\"dropped\":{},\"storage_bytes\":{},\"wal_fsyncs\":{},\"wal_fsync_seconds\":{}}}",
                   first ? "" : ",", s.time_ms, s.clients, s.messages_in, s.messages_out, s.bytes_in, s.bytes_out,
                   s.dropped, s.storage_bytes, s.wal_fsyncs, s.wal_fsync_seconds);
    first = false;
  }
  out += "]}";
  return out;
}

std::optional<http::Response> Operations::handle(const http::Request& r) {
  auto only = [&](std::string_view method) -> std::optional<http::Response> {
    if (r.method == method) return std::nullopt;
    return http::method_not_allowed(r, method);
  };
  if (r.path == "/ready") {
    if (auto refused = only("GET")) return refused;
    http::Response res;
    if (ready_.load(std::memory_order_relaxed)) {
      res.body = "{\"status\":\"ready\"}";
    } else {
      res.status = 503;
      res.body = "{\"status\":\"not ready\"}";
      res.headers.emplace_back("Retry-After", "1");
    }
    return res;
  }
  if (r.path == "/metrics") {
    if (auto refused = only("GET")) return refused;
    http::Response res;
    res.content_type = "text/plain; version=0.0.4; charset=utf-8";
    res.body = metrics();
    return res;
  }
  if (r.path == "/api/overview") {
    if (auto refused = only("GET")) return refused;
    int64_t since = 0;
    if (const std::string* v = r.query.get("since"); v && !v->empty()) {
      auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), since);
      if (ec != std::errc() || end != v->data() + v->size())
        return http::error_response(400, "since must be a time in milliseconds since the epoch, not '" + *v + "'");
    }
    http::Response res;
    res.body = overview_json(since);
    res.headers.emplace_back("Cache-Control", "no-store");
    return res;
  }
  if (r.path == "/api/clients/disconnect") {
    if (auto refused = only("POST")) return refused;
    const std::string* id = r.query.get("client_id");
    if (!id || id->empty())
      return http::error_response(400, "give the client: POST /api/clients/disconnect?client_id=ID");
    if (!broker_.disconnect_client(*id)) return http::error_response(404, "no client '" + *id + "' is connected");
    return http::success_response(200, "disconnected client '" + *id + "'");
  }
  return std::nullopt;
}

std::string Operations::metrics() const {
  Exposition e;
  const broker::Stats& st = broker_.stats();
  auto qos = [](int q) { return fmt::format("qos=\"{}\"", q); };

  e.family("mqbase_build_info", "gauge", "The version of mqbase that is running (always 1).");
  e.value("mqbase_build_info", uint64_t{1}, label("version", MQBASE_VERSION));
  e.one("mqbase_ready", "gauge", "1 once recovery has finished and the listeners are up (GET /ready).",
        ready_.load(std::memory_order_relaxed) ? 1 : 0);

  // Connections and sessions.
  e.one("mqbase_connections", "gauge", "MQTT clients connected now (CONNACK sent, not yet closed).",
        broker::Stats::get(st.clients_connected));
  e.one("mqbase_sockets_open", "gauge", "Accepted sockets not yet closed, before and after CONNECT.",
        broker::Stats::get(st.sockets_open));
  e.one("mqbase_login_failures_total", "counter", "CONNECTs and HTTP requests refused for their credentials.",
        broker::Stats::get(st.login_failures));
  e.one("mqbase_acl_denied_total", "counter", "PUBLISHes, SUBSCRIBE filters and deliveries the ACL refused.",
        broker::Stats::get(st.acl_denied));
  broker::Broker::QueueTotals q = broker_.queue_totals();
  e.one("mqbase_sessions", "gauge", "Sessions, connected or not.", q.sessions);
  e.one("mqbase_queued_messages", "gauge", "Messages queued for sessions and not yet sent.", q.queued);
  e.one("mqbase_inflight_messages", "gauge", "Messages sent at QoS 1 or 2 and not yet acknowledged.", q.inflight);

  // Messages and bytes.
  e.family("mqbase_messages_received_total", "counter", "PUBLISH packets received from clients, by QoS.");
  for (int i = 0; i < 3; ++i) e.value("mqbase_messages_received_total", st.publish_received_qos[i].get(), qos(i));
  e.family("mqbase_messages_sent_total", "counter", "PUBLISH packets sent to subscribers, by QoS.");
  for (int i = 0; i < 3; ++i) e.value("mqbase_messages_sent_total", st.publish_sent_qos[i].get(), qos(i));
  e.family("mqbase_payload_received_bytes_total", "counter", "Payload bytes of the PUBLISH packets received, by QoS.");
  for (int i = 0; i < 3; ++i) e.value("mqbase_payload_received_bytes_total", st.payload_bytes_received_qos[i].get(), qos(i));
  e.family("mqbase_payload_sent_bytes_total", "counter", "Payload bytes of the PUBLISH packets sent, by QoS.");
  for (int i = 0; i < 3; ++i) e.value("mqbase_payload_sent_bytes_total", st.payload_bytes_sent_qos[i].get(), qos(i));
  e.one("mqbase_received_bytes_total", "counter", "Bytes read from MQTT connections (all packets, after TLS).",
        broker::Stats::get(st.bytes_received));
  e.one("mqbase_sent_bytes_total", "counter", "Bytes written to MQTT connections (all packets, before TLS).",
        broker::Stats::get(st.bytes_sent));
  e.family("mqbase_messages_dropped_total", "counter",
           "Messages not delivered to a subscriber, or not routed, by reason (docs/operations.md).");
  for (size_t i = 0; i < st.dropped_by_reason.size(); ++i)
    e.value("mqbase_messages_dropped_total", st.dropped_by_reason[i].get(),
            label("reason", broker::drop_reason_name(static_cast<broker::DropReason>(i))));

  // The write-ahead log.
  store::Store::Stats ss = store_.stats();
  e.one("mqbase_wal_records_total", "counter", "Records written to the write-ahead log.", ss.records);
  e.one("mqbase_wal_written_bytes_total", "counter", "Bytes written to the write-ahead log.", ss.bytes_written);
  e.one("mqbase_wal_bytes", "gauge", "Bytes of the write-ahead log on disk (segments and checkpoints).",
        ss.wal_bytes_on_disk);
  e.one("mqbase_checkpoints_total", "counter", "Checkpoints written.", ss.checkpoints);
  e.histogram("mqbase_wal_append_seconds", "Duration of each write of a group of records to the log.",
              store_.write_latency().snapshot());
  e.histogram("mqbase_wal_fsync_seconds", "Duration of each fdatasync of the log (group commit).",
              store_.sync_latency().snapshot());
  e.histogram("mqbase_checkpoint_seconds", "Duration of each checkpoint, with the table flush before it.",
              store_.checkpoint_latency().snapshot());

  // Tables.
  auto infos = tables_.list();
  uint64_t table_bytes = 0;
  e.family("mqbase_table_rows", "gauge", "Rows of a table, on disk and in memory.");
  for (const auto& t : infos)
    e.value("mqbase_table_rows", t.rows_on_disk + t.rows_in_memory, label("table", t.schema->name));
  e.family("mqbase_table_bytes", "gauge", "Bytes of a table's block files on disk.");
  for (const auto& t : infos) {
    e.value("mqbase_table_bytes", t.bytes_on_disk, label("table", t.schema->name));
    table_bytes += t.bytes_on_disk;
  }
  e.one("mqbase_storage_bytes", "gauge", "Bytes on disk: the log and every table.", ss.wal_bytes_on_disk + table_bytes);
  store::tables::TablesStats ts = tables_.stats();
  e.one("mqbase_tables_memory_bytes", "gauge", "Bytes the tables hold in memory (heads, dictionaries, indexes).",
        ts.memory_bytes);
  e.one("mqbase_tables_late_rows_total", "counter", "Rows that arrived behind their table's out-of-order window.",
        ts.late_rows);

  // Ingest.
  if (ingest_) {
    ingest::IngestStats is = ingest_->stats();
    e.one("mqbase_ingest_messages_total", "counter", "Messages and HTTP writes the ingest took.", is.messages);
    e.one("mqbase_ingest_dead_letters_total", "counter", "Failed messages kept in _dead_letter.", is.dead_letters);
    auto by_table = ingest_->table_stats();
    e.family("mqbase_ingest_rows_total", "counter", "Rows stored by the ingest, by table.");
    for (const auto& [name, t] : by_table) e.value("mqbase_ingest_rows_total", t.rows, label("table", name));
    e.family("mqbase_ingest_errors_total", "counter", "Messages and HTTP writes the ingest refused, by table.");
    for (const auto& [name, t] : by_table) e.value("mqbase_ingest_errors_total", t.errors, label("table", name));
  }

  // SQL.
  e.family("mqbase_queries_total", "counter", "SQL statements run (HTTP, MQTT db/query, console), by result.");
  e.value("mqbase_queries_total", queries_ok_.load(std::memory_order_relaxed), "result=\"ok\"");
  e.value("mqbase_queries_total", queries_failed_.load(std::memory_order_relaxed), "result=\"error\"");
  e.histogram("mqbase_query_seconds", "Duration of each SQL statement.", query_latency_.snapshot());
  if (queries_) {
    auto ps = queries_->stats();
    e.one("mqbase_queries_running", "gauge", "SQL statements running now.", ps.running);
    e.one("mqbase_queries_queued", "gauge", "SQL statements waiting for a query thread.", ps.queued);
    e.one("mqbase_queries_rejected_total", "counter", "SQL statements refused because the queue was full.", ps.rejected);
  }

  // The process (the names the Prometheus client libraries use).
  e.family("process_cpu_seconds_total", "counter", "User and system CPU time of the process, in seconds.");
  e.value("process_cpu_seconds_total", bench::self_cpu_seconds());
  bench::MemoryBytes memory = bench::self_memory_bytes();
  e.one("process_resident_memory_bytes", "gauge", "Resident memory of the process.", memory.resident_bytes);
  e.one("process_virtual_memory_bytes", "gauge", "Virtual memory of the process.", memory.virtual_bytes);
  e.one("process_open_fds", "gauge", "Open file descriptors.", open_fds());
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0)
    e.one("process_max_fds", "gauge", "The limit on open file descriptors.", static_cast<uint64_t>(rl.rlim_cur));
  e.family("process_start_time_seconds", "gauge", "When the process started, in seconds since the epoch.");
  e.value("process_start_time_seconds", start_time_);
  return e.take();
}

}  // namespace mqbase::app
