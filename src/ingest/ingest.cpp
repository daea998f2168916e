// Ingest: see ingest.h. A message goes: topic -> Target; payload (gunzipped) -> ParsedRows;
// ParsedRows + the table's schema (created or grown when allowed) -> RowBatch; RowBatch ->
// Tables::write (one WAL record). Nothing is written until every row has converted.
#include "ingest/ingest.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <zlib.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <unordered_map>

#include "broker/broker.h"
#include "broker/persistence.h"

namespace mqbase::ingest {

using store::Lsn;
using store::tables::Column;
using store::tables::ColumnType;
using store::tables::FieldValues;
using store::tables::RowBatch;
using store::tables::Schema;

namespace {

constexpr std::string_view kPrefixes[] = {"db/append/", "db/write/", "db/metrics/"};
constexpr size_t kMaxInflated = size_t{64} << 20;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}


std::string number_text(double d) {
  char b[32];
  auto [p, ec] = std::to_chars(b, b + sizeof b, d);
  return std::string(b, ec == std::errc() ? p : b);
}

// A cell as text (a tag, a VARCHAR); nullopt for NULL.
std::string cell_text(const Cell& c) {
  switch (c.kind) {
    case Cell::Kind::null: return "";
    case Cell::Kind::integer: return std::to_string(c.i);
    case Cell::Kind::number: return number_text(c.d);
    case Cell::Kind::boolean: return c.i ? "true" : "false";
    default: return std::string(c.s);
  }
}

const char* kind_name(Cell::Kind k) {
  switch (k) {
    case Cell::Kind::null: return "null";
    case Cell::Kind::integer: return "an integer";
    case Cell::Kind::number: return "a number";
    case Cell::Kind::boolean: return "a boolean";
    case Cell::Kind::string: return "a string";
    case Cell::Kind::json: return "a JSON value";
  }
  return "?";
}

// A number that is the whole of `s` (a JSON string holding "21.5").
template <typename T>
bool read_whole(std::string_view s, T& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

// Appends cell `c` to field column `f`; false when it does not fit (mismatch() says why). No
// string is made on success: a message's every field comes this way.
bool push_cell(FieldValues& f, const Cell& c) {
  using K = Cell::Kind;
  if (c.kind == K::null) {
    f.push_null();
    return true;
  }
  switch (f.type) {
    case ColumnType::float64:
      if (c.kind == K::integer || c.kind == K::number) {
        f.push_f(c.kind == K::integer ? static_cast<double>(c.i) : c.d);
        return true;
      }
      if (double d; c.kind == K::string && read_whole(c.s, d)) {
        f.push_f(d);
        return true;
      }
      break;
    case ColumnType::int64:
      if (c.kind == K::integer) {
        f.push_i(c.i);
        return true;
      }
      if (c.kind == K::number && std::trunc(c.d) == c.d && c.d >= -9.2233720368547758e18 && c.d < 9.2233720368547758e18) {
        f.push_i(static_cast<int64_t>(c.d));
        return true;
      }
      if (int64_t v; c.kind == K::string && read_whole(c.s, v)) {
        f.push_i(v);
        return true;
      }
      break;
    case ColumnType::boolean:
      if (c.kind == K::boolean || (c.kind == K::integer && (c.i == 0 || c.i == 1))) {
        f.push_i(c.i);
        return true;
      }
      if (c.kind == K::string && (iequals(c.s, "true") || iequals(c.s, "false"))) {
        f.push_i(iequals(c.s, "true"));
        return true;
      }
      break;
    case ColumnType::varchar:
    case ColumnType::json:
      // Text as it is (an archived payload may be large); numbers and booleans as text.
      if (c.kind == K::string || c.kind == K::json) f.push_s(c.s);
      else f.push_s(cell_text(c));
      return true;
    default: break;
  }
  return false;
}

std::string mismatch(const FieldValues& f, const Cell& c) {
  using K = Cell::Kind;
  return "expected " + std::string(store::tables::type_name(f.type)) + ", found " + kind_name(c.kind) +
         (c.kind == K::string ? " '" + std::string(c.s.substr(0, 40)) + "'" : "");
}

// The type a new column takes from its cells; nullopt when all are NULL (not created yet).
enum class Inference : uint8_t { payload, declared, exact };  // as Ingest::Typing

std::optional<ColumnType> infer_type(const ParsedRows& pr, size_t col, bool creating, Inference typing) {
  bool any_string = false, any_json = false, any_bool = false, any_number = false, any_float = false;
  for (size_t r = 0; r < pr.rows(); ++r) {
    switch (pr.at(r, col).kind) {
      case Cell::Kind::string: any_string = true; break;
      case Cell::Kind::json: any_json = true; break;
      case Cell::Kind::boolean: any_bool = true; break;
      case Cell::Kind::integer: any_number = true; break;
      case Cell::Kind::number: any_number = any_float = true; break;
      default: break;
    }
  }
  if (!pr.columns.empty() && pr.columns[col].tag) return ColumnType::tag;
  if (typing != Inference::payload) {
    // Line protocol and rules say which columns are tags (flagged above); line protocol says
    // too what its fields are: 2i is an integer, 2 a float.
    if (any_json) return ColumnType::json;
    if (any_string) return ColumnType::varchar;
    if (any_number) return typing == Inference::exact && !any_float ? ColumnType::int64 : ColumnType::float64;
  }
  if (any_json) return ColumnType::json;
  // Strings name series when a table is made from a message (device, site, name); a string
  // column that arrives later is a field: it cannot change what the old rows' series are.
  if (any_string) return creating ? ColumnType::tag : ColumnType::varchar;
  if (any_number) return ColumnType::float64;
  if (any_bool) return ColumnType::boolean;
  return std::nullopt;
}

bool is_time_name(std::string_view n) { return iequals(n, "time") || iequals(n, "ts") || iequals(n, "timestamp"); }

std::string json_escape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      out += b;
    } else {
      out += ch;
    }
  }
  return out;
}

// The "reply" member of a JSON object payload ({"data":{...},"reply":"topic"}), or "". Only
// payloads that name it pay for a second parse.
std::string reply_in_json(std::string_view payload) {
  size_t first = payload.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || payload[first] != '{' || payload.find("\"reply\"") == std::string_view::npos)
    return "";
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view reply;
  if (parser.parse(payload.data(), payload.size()).get(doc) || doc["reply"].get(reply)) return "";
  // A reply topic is a topic name: no wildcards ([MQTT-3.3.2-14] for the Response Topic).
  if (reply.empty() || reply.find_first_of("+#") != std::string_view::npos) return "";
  return std::string(reply);
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

bool gunzip(std::string_view in, std::string& out, std::string* error) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) {
    *error = "cannot start gzip decompression";
    return false;
  }
  out.clear();
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  char buf[65536];
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      *error = std::string("payload is not gzip: ") + (z.msg ? z.msg : "inflate failed");
      inflateEnd(&z);
      return false;
    }
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > kMaxInflated) {
      *error = "gzip payload inflates to more than 64 MiB";
      inflateEnd(&z);
      return false;
    }
    if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
      *error = "gzip payload is truncated";
      inflateEnd(&z);
      return false;
    }
  }
  inflateEnd(&z);
  return true;
}

std::optional<Format> format_named(std::string_view s) {
  if (iequals(s, "json")) return Format::json;
  if (iequals(s, "csv")) return Format::csv;
  if (iequals(s, "ndjson")) return Format::ndjson;
  if (iequals(s, "line") || iequals(s, "influx") || iequals(s, "lineprotocol")) return Format::line;
  return std::nullopt;
}

std::optional<Target> parse_target(std::string_view topic, std::string* error) {
  for (std::string_view prefix : kPrefixes) {
    if (!topic.starts_with(prefix)) continue;
    std::string_view rest = topic.substr(prefix.size());
    Target t;
    t.format = prefix == "db/metrics/" ? Format::line : Format::json;
    size_t colon = rest.find(':');
    std::string_view name = rest.substr(0, colon);
    if (!store::tables::normalize_name(name, &t.table)) {
      *error = "'" + std::string(name) + "' is not a table name (1 to 63 letters, digits or '_', not starting with a digit)";
      return t;
    }
    while (colon != std::string_view::npos) {
      rest = rest.substr(colon + 1);
      colon = rest.find(':');
      std::string_view opt = rest.substr(0, colon);
      if (iequals(opt, "gzip")) t.gzip = true;
      else if (auto f = format_named(opt)) t.format = *f;
      else {
        *error = "unknown topic option ':" + std::string(opt) + "' (json, csv, ndjson, gzip)";
        return t;
      }
    }
    return t;
  }
  return std::nullopt;
}

Ingest::Ingest(store::tables::Tables& tables, store::Store& store, broker::Broker& broker, IngestOptions options)
    : tables_(tables), store_(store), broker_(broker), options_(std::move(options)) {
  for (const RuleConfig& r : options_.rules) rules_.emplace_back(r);
  replier_ = std::thread([this] { reply_loop(); });
}

Ingest::~Ingest() { stop(); }

void Ingest::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (replier_.joinable()) replier_.join();
}

bool Ingest::wants(std::string_view topic) const {
  if (topic.starts_with("db/")) return !topic.starts_with("db/reply");
  for (const IngestRule& r : rules_)
    if (r.matches(topic)) return true;
  return false;
}

std::vector<std::pair<std::string, std::string>> Ingest::sys_figures() const {
  IngestStats s = stats();
  store::tables::TablesStats t = tables_.stats();
  return {{"ingest/messages", std::to_string(s.messages)},
          {"ingest/rows", std::to_string(s.rows)},
          {"ingest/errors", std::to_string(s.errors)},
          {"ingest/dead letters", std::to_string(s.dead_letters)},
          {"ingest/replies", std::to_string(s.replies)},
          {"tables/count", std::to_string(t.tables)},
          {"tables/memory bytes", std::to_string(t.memory_bytes)},
          {"tables/late rows", std::to_string(t.late_rows)}};
}

void Ingest::count(std::string_view table, size_t rows, bool error, bool normal_name) {
  // Per message: the normal form goes into this thread's buffer and is looked up as a view, so
  // a table already counted costs no allocation.
  thread_local std::string normal;
  std::string_view key = normal_name                                   ? table
                         : store::tables::normalize_name(table, &normal) ? std::string_view(normal)
                                                                         : "(invalid)";
  TableShard& shard = table_shards_[broker::thread_slot() % table_shards_.size()];
  std::lock_guard lock(shard.mu);
  auto it = shard.tables.find(key);
  if (it == shard.tables.end()) {
    if (tracked_tables_.fetch_add(1, std::memory_order_relaxed) >= kMaxTrackedTables) {
      tracked_tables_.fetch_sub(1, std::memory_order_relaxed);
      key = "(other)";
    }
    it = shard.tables.try_emplace(std::string(key)).first;
  }
  it->second.rows += rows;
  it->second.errors += error ? 1 : 0;
}

std::map<std::string, TableIngestStats> Ingest::table_stats() const {
  std::map<std::string, TableIngestStats> all;
  for (const TableShard& shard : table_shards_) {
    std::lock_guard lock(shard.mu);
    for (const auto& [name, s] : shard.tables) {
      auto& a = all[name];
      a.rows += s.rows;
      a.errors += s.errors;
    }
  }
  return all;
}

IngestStats Ingest::stats() const {
  return {messages_.load(), rows_.load(), errors_.load(), dead_letters_.load(), replies_.load()};
}

broker::MessageSink::Outcome Ingest::take(const broker::Message& m, const Publisher& publisher) {
  if (!std::string_view(m.topic).starts_with("db/")) {
    take_by_rules(m, publisher);
    return {};
  }
  auto began = std::chrono::steady_clock::now();
  std::string error;
  auto target = parse_target(m.topic, &error);
  if (!target && error.empty()) return {};  // db/... but not a table topic: only routed
  ++messages_;
  std::string_view reply_topic;
  if (m.response_topic) reply_topic = *m.response_topic;
  for (auto& [k, v] : m.user_properties)
    if (k == "reply") reply_topic = v;
  size_t rows = 0;
  Lsn lsn = 0;
  bool refused = false;
  std::string json_reply;  // "reply" inside a JSON object payload (neo's third way)
  // A QoS 0 message has no acknowledgement: unless a reply waits for its rows, nothing does.
  if (error.empty())
    error = store_rows(m, *target, &rows, &lsn, &refused, reply_topic.empty() ? &json_reply : nullptr,
                       m.qos > 0 || !reply_topic.empty());
  if (reply_topic.empty()) reply_topic = json_reply;
  Outcome out;
  if (target) count(target->table, rows, !error.empty());
  if (error.empty()) {
    rows_ += rows;
    if (!reply_topic.empty())
      reply(m, reply_topic, true, "success, " + std::to_string(rows) + " record(s) inserted", began, lsn);
    return out;
  }
  ++errors_;
  spdlog::warn("ingest: client {}: message to '{}' not stored: {}", publisher.client_id, m.topic, error);
  if (!reply_topic.empty()) reply(m, reply_topic, false, error, began, 0);
  if (refused) {
    // The store takes nothing now: the broker answers 0x97 (v5) or closes a 3.x connection
    // unacknowledged, so that the message comes again.
    broker::Persistence::tracker().refused = true;
    return out;
  }
  // The table limit is a quota: the message was fine, the server will not make its table.
  out.reason = store::tables::is_table_limit_error(error) ? mqtt::ReasonCode::quota_exceeded
                                                          : mqtt::ReasonCode::payload_format_invalid;
  out.reason_string = error;
  if (publisher.protocol != 5 && reply_topic.empty()) dead_letter(m, publisher, error);
  return out;
}

std::string Ingest::store_rows(const broker::Message& m, const Target& target, size_t* nrows, Lsn* lsn, bool* refused,
                               std::string* json_reply, bool waited) {
  ParseOptions po;
  po.format = target.format;
  std::string_view timeformat = options_.timeformat, tz = options_.tz;
  bool skip_header = false;
  for (auto& [k, v] : m.user_properties) {
    if (k == "format") {
      auto f = format_named(v);
      if (!f) return "unknown format '" + v + "' (json, csv, ndjson)";
      po.format = *f;
    } else if (k == "timeformat") {
      timeformat = v;
    } else if (k == "tz") {
      tz = v;
    } else if (k == "header") {
      if (iequals(v, "columns") || iequals(v, "true")) po.header = true;
      else if (iequals(v, "skip")) skip_header = true;
    } else if (k == "delimiter") {
      if (v.size() != 1) return "delimiter must be one character";
      po.delimiter = v[0];
    }
  }
  return store_payload(m.payload, target, po, timeformat, tz, skip_header, nrows, lsn, refused, json_reply, waited);
}

std::string Ingest::store_payload(std::string_view payload, const Target& target, const ParseOptions& po,
                                  std::string_view timeformat, std::string_view tz, bool skip_header, size_t* nrows,
                                  Lsn* lsn, bool* refused, std::string* json_reply, bool waited) {
  thread_local std::string inflated;
  if (target.gzip) {
    std::string error;
    if (!gunzip(payload, inflated, &error)) return error;
    payload = inflated;
  }
  if (json_reply && po.format == Format::json) {
    *json_reply = reply_in_json(payload);
    if (!json_reply->empty()) waited = true;  // the reply waits for the rows
  }
  if (skip_header && po.format == Format::csv) {
    size_t nl = payload.find('\n');
    payload = nl == std::string_view::npos ? std::string_view() : payload.substr(nl + 1);
  }
  thread_local ParsedRows pr;
  if (std::string error = parse(payload, po, pr); !error.empty()) return error;
  if (pr.rows() == 0) return "no rows in the payload";
  return write_parsed(pr, target.table, po.format == Format::line ? Typing::exact : Typing::payload, timeformat, tz,
                      false, nrows, lsn, refused, 0, waited);
}

std::string Ingest::write_parsed(const ParsedRows& pr, const std::string& table, Typing typing,
                                 std::string_view timeformat, std::string_view tz, bool keep_all, size_t* nrows,
                                 Lsn* lsn, bool* refused, int64_t received, bool waited) {
  if (received == 0) received = now_ns();
  auto& tracker = broker::Persistence::tracker();
  auto raise = [&](Lsn l) { tracker.needed = std::max(tracker.needed, l); };

  // The table's schema: kept per thread while the catalog does not change (a lookup takes the
  // tables' lock and finds the name, for every message). A version belongs to one Tables.
  struct KnownSchema {
    uint64_t version = 0;
    std::string table;
    std::shared_ptr<const Schema> schema;
  };
  thread_local std::array<KnownSchema, 4> known;
  thread_local size_t next_known = 0;
  std::shared_ptr<const Schema> schema;
  const uint64_t version = tables_.catalog_version();
  for (const KnownSchema& k : known)
    if (k.version == version && k.table == table) {
      schema = k.schema;
      break;
    }
  if (!schema && (schema = tables_.schema(table))) known[next_known++ % known.size()] = {version, table, schema};
  const bool named = !pr.columns.empty();
  if (!schema) {
    if (!options_.auto_create) return "table '" + table + "' does not exist";
    Schema s;
    s.name = table;
    // An archive keeps every message, two with the same time included.
    if (keep_all) s.options.duplicates = store::tables::DuplicatePolicy::keep_all;
    if (named) {
      bool has_time = false;
      for (size_t c = 0; c < pr.columns.size(); ++c) {
        if (is_time_name(pr.columns[c].name) && !has_time) {
          s.columns.push_back({pr.columns[c].name, ColumnType::time});
          has_time = true;
        } else if (auto t = infer_type(pr, c, true, static_cast<Inference>(typing))) {
          s.columns.push_back({pr.columns[c].name, *t});
        }
      }
      if (!has_time) s.columns.insert(s.columns.begin(), Column{"time", ColumnType::time});
    } else if (pr.width == 3 && pr.at(0, 0).kind == Cell::Kind::string) {
      // machbase-neo's tag table.
      s.columns = {{"name", ColumnType::tag}, {"time", ColumnType::time}, {"value", ColumnType::float64}};
    } else {
      return "table '" + table + "' does not exist, and positional rows make only the (name, time, value) "
             "shape: send named columns (CSV with header=columns, NDJSON, or {\"data\":{\"columns\":...}})";
    }
    for (auto& c : s.columns) {
      std::string n;
      if (!store::tables::normalize_name(c.name, &n)) return "column name '" + c.name + "' is not valid (letters, digits, '_')";
    }
    Lsn l = 0;
    if (std::string e = tables_.create_table(s, true, &l); !e.empty()) {
      if (l == 0 && e.find("refuses") != std::string::npos) *refused = true;
      return e;
    }
    raise(l);
    schema = tables_.schema(table);
    if (!schema) return "table '" + table + "' was dropped meanwhile";
  }

  // The plan: where each parsed column goes. Messages of one rule or one device mostly name
  // the same columns of the same schema version, so the plan of such a message is kept (per
  // thread, a few tables at a time) and found again by the schema and the column names,
  // instead of looking up every column by name again.
  struct Plan {
    std::shared_ptr<const Schema> schema;  // held: the address names this version alone
    std::vector<std::string> names;        // the parsed columns, when named
    uint64_t layout = 0;                   // ParsedRows::layout of those columns (0: unknown)
    size_t width = 0;                      // when positional
    std::vector<int> source;               // per schema column, the parsed column feeding it (-1: none)
    std::vector<int> tag_cols, field_cols;
  };
  thread_local std::array<Plan, 8> plans;
  thread_local size_t next_plan = 0;
  auto same_names = [&pr](const Plan& p) {
    if (p.names.size() != pr.columns.size()) return false;
    for (size_t c = 0; c < p.names.size(); ++c)
      if (p.names[c] != pr.columns[c].name) return false;
    return true;
  };
  const Plan* plan = nullptr;
  for (const Plan& p : plans)
    if (p.schema == schema && (pr.layout != 0 && p.layout == pr.layout ? true
                               : named                                 ? same_names(p)
                                                                       : p.names.empty() && p.width == pr.width)) {
      plan = &p;
      break;
    }
  if (!plan) {
    // Where each parsed column goes: a schema column, or nowhere (-1).
    std::vector<int> dest(pr.width, -1);
    bool all_placed = true;
    if (named) {
      std::vector<Column> missing;
      for (size_t c = 0; c < pr.columns.size(); ++c) {
        int at = schema->find(pr.columns[c].name);
        if (at < 0 && is_time_name(pr.columns[c].name)) at = schema->time_index();
        if (at >= 0) {
          dest[c] = at;
          continue;
        }
        auto t = infer_type(pr, c, false, static_cast<Inference>(typing));
        if (!t) {  // all NULL: nothing to keep (and no plan kept: the next message may bring a value)
          all_placed = false;
          continue;
        }
        if (!options_.auto_create) return "column '" + pr.columns[c].name + "' does not exist in table '" + schema->name + "'";
        missing.push_back({pr.columns[c].name, *t});
      }
      if (!missing.empty()) {
        Lsn l = 0;
        if (std::string e = tables_.add_columns(schema->name, missing, &l); !e.empty()) {
          if (e.find("refuses") != std::string::npos) *refused = true;
          return e;
        }
        raise(l);
        schema = tables_.schema(table);
        if (!schema) return "table '" + table + "' was dropped meanwhile";
        for (size_t c = 0; c < pr.columns.size(); ++c)
          if (dest[c] < 0) dest[c] = schema->find(pr.columns[c].name);
      }
    } else {
      if (pr.width > schema->columns.size())
        return "row 1 has " + std::to_string(pr.width) + " values, table '" + schema->name + "' has " +
               std::to_string(schema->columns.size()) + " columns";
      for (size_t c = 0; c < pr.width; ++c) dest[c] = static_cast<int>(c);
    }
    thread_local Plan scratch;
    Plan& p = all_placed ? plans[next_plan++ % plans.size()] : scratch;
    p.schema = schema;
    p.names.clear();
    for (auto& c : pr.columns) p.names.push_back(c.name);
    p.layout = pr.layout;
    p.width = pr.width;
    p.source.assign(schema->columns.size(), -1);
    for (size_t c = 0; c < dest.size(); ++c)
      if (dest[c] >= 0) p.source[dest[c]] = static_cast<int>(c);
    p.tag_cols = schema->tag_indexes();
    p.field_cols = schema->field_indexes();
    plan = &p;
  }
  const std::vector<int>& source = plan->source;
  const int time_col = schema->time_index();
  const std::vector<int>& tag_cols = plan->tag_cols;
  const std::vector<int>& field_cols = plan->field_cols;

  // Per thread and kept, as a message of one row would allocate them all each time: b.series
  // keeps the tag tuples of the message before, assigned over (nseries counts this message's).
  thread_local RowBatch b;
  b.row_series.clear();
  b.times.clear();
  size_t nseries = 0;
  b.table_id = schema->id;
  b.columns = static_cast<uint32_t>(schema->columns.size());
  b.fields.resize(field_cols.size());
  for (size_t k = 0; k < field_cols.size(); ++k) {
    b.fields[k].type = schema->columns[field_cols[k]].type;
    b.fields[k].clear();
    if (pr.rows() > 1) b.fields[k].reserve(pr.rows());
  }
  if (pr.rows() > 1) {
    b.times.reserve(pr.rows());
    b.row_series.reserve(pr.rows());
  }
  thread_local std::unordered_map<std::string, uint32_t> series_of;
  if (!series_of.empty()) series_of.clear();  // clear() walks every bucket, even of an empty map
  thread_local std::vector<std::string> tags;
  tags.resize(tag_cols.size());
  thread_local std::vector<std::string_view> prev_tags;
  prev_tags.assign(tag_cols.size(), std::string_view());
  uint32_t prev_series = UINT32_MAX;
  thread_local std::string key, first_key;
  auto new_series = [&] {
    if (nseries < b.series.size()) b.series[nseries] = tags;
    else b.series.push_back(tags);
    ++nseries;
  };
  std::string error;
  auto where = [&](size_t r, int col) {
    return "row " + std::to_string(r + 1) + ", column '" + schema->columns[col].name + "': ";
  };
  for (size_t r = 0; r < pr.rows(); ++r) {
    int64_t t = received;
    if (int src = source[time_col]; src >= 0 && pr.at(r, src).kind != Cell::Kind::null) {
      if (!parse_time(pr.at(r, src), timeformat, tz, &t, &error)) return where(r, time_col) + error;
    }
    // Rows of one series usually follow each other: the same tag text as the row before is
    // the same series, without building and hashing its key.
    bool same = prev_series != UINT32_MAX;
    for (size_t k = 0; k < tag_cols.size() && same; ++k) {
      int src = source[tag_cols[k]];
      same = src >= 0 && pr.at(r, src).kind == Cell::Kind::string && pr.at(r, src).s == prev_tags[k];
    }
    if (!same) {
      key.clear();
      bool all_text = true;
      for (size_t k = 0; k < tag_cols.size(); ++k) {
        int src = source[tag_cols[k]];
        if (src >= 0 && pr.at(r, src).kind == Cell::Kind::string) tags[k].assign(pr.at(r, src).s);  // no temporary
        else tags[k] = src >= 0 ? cell_text(pr.at(r, src)) : std::string();
        key += tags[k];
        key += '\0';
        all_text = all_text && src >= 0 && pr.at(r, src).kind == Cell::Kind::string;
        if (all_text) prev_tags[k] = pr.at(r, src).s;
      }
      // The first series of a message needs no map (a one-row message never builds one).
      uint32_t id = 0;
      if (nseries == 0) {
        new_series();
        first_key = key;
      } else {
        if (series_of.empty()) series_of.emplace(first_key, 0);
        auto [it, added] = series_of.try_emplace(key, static_cast<uint32_t>(nseries));
        if (added) new_series();
        id = it->second;
      }
      prev_series = all_text ? id : UINT32_MAX;
      b.row_series.push_back(id);
    } else {
      b.row_series.push_back(prev_series);
    }
    b.times.push_back(t);
    for (size_t k = 0; k < field_cols.size(); ++k) {
      int src = source[field_cols[k]];
      if (src < 0) {
        b.fields[k].push_null();
        continue;
      }
      if (!push_cell(b.fields[k], pr.at(r, src))) return where(r, field_cols[k]) + mismatch(b.fields[k], pr.at(r, src));
    }
  }
  b.series.resize(nseries);
  store::tables::WriteResult w = tables_.write(b, waited);
  if (w.lsn == 0) {
    *refused = w.status != store::WriteStatus::too_large;
    return w.error;
  }
  raise(w.lsn);
  *nrows = b.rows();
  *lsn = w.lsn;
  return {};
}

void Ingest::submit(const Target& target, const WriteOptions& options, std::string payload,
                    std::function<void(const WriteOutcome&)> done) {
  ParseOptions po;
  po.format = target.format;
  po.header = options.header;
  po.delimiter = options.delimiter;
  std::string_view timeformat = options.timeformat.empty() ? std::string_view(options_.timeformat) : options.timeformat;
  std::string_view tz = options.tz.empty() ? std::string_view(options_.tz) : options.tz;
  size_t rows = 0;
  Lsn lsn = 0;
  bool refused = false;
  std::string error;
  Target t = target;
  if (!store::tables::normalize_name(target.table, &t.table))
    error = "'" + target.table + "' is not a table name (1 to 63 letters, digits or '_', not starting with a digit)";
  else
    error = store_payload(payload, t, po, timeformat, tz, options.skip_header, &rows, &lsn, &refused, nullptr);
  WriteOutcome out;
  count(t.table, rows, !error.empty());
  if (!error.empty()) {
    ++errors_;
    out.refused = refused;
    out.reason = std::move(error);
    done(out);
    return;
  }
  rows_ += rows;
  out.ok = true;
  out.rows = rows;
  out.reason = "success, " + std::to_string(rows) + " record(s) inserted";
  {
    std::lock_guard lock(mu_);
    waiting_.push_back({lsn, nullptr, [done = std::move(done), out = std::move(out)] { done(out); }});
  }
  wake_.notify_one();
}

void Ingest::take_by_rules(const broker::Message& m, const Publisher& publisher) {
  for (const IngestRule& rule : rules_) {
    if (!rule.matches(m.topic)) continue;
    ++messages_;
    std::string props;
    if (rule.archive() && !m.user_properties.empty()) {
      props = "{";
      for (auto& [k, v] : m.user_properties)
        props += (props.size() > 1 ? ",\"" : "\"") + json_escape(k) + "\":\"" + json_escape(v) + "\"";
      props += "}";
    }
    thread_local ParsedRows pr;
    size_t rows = 0;
    Lsn lsn = 0;
    bool refused = false;
    std::string error = rule.apply(m.topic, m.payload, m.qos, props, pr);
    if (error.empty())
      error = write_parsed(pr, rule.table(), rule.archive() ? Typing::exact : Typing::declared,
                           rule.timeformat().empty() ? std::string_view(options_.timeformat) : rule.timeformat(),
                           options_.tz, rule.archive(), &rows, &lsn, &refused, m.received_ns, m.qos > 0);
    count(rule.table(), rows, !error.empty(), true);
    if (error.empty()) {
      rows_ += rows;
      continue;
    }
    ++errors_;
    error = "ingest rule for table '" + rule.table() + "': " + error;
    spdlog::warn("ingest: client {}: message to '{}' not stored: {}", publisher.client_id, m.topic, error);
    // A store that refuses writes: not acknowledged (0x97, or a 3.x disconnect), as for any
    // message the broker must keep. A payload the rule cannot read was still a valid message
    // to an ordinary topic: delivered, acknowledged, and kept aside.
    if (refused) broker::Persistence::tracker().refused = true;
    else dead_letter(m, publisher, error);
  }
}

void Ingest::reply(const broker::Message& m, std::string_view topic, bool ok, const std::string& reason,
                   std::chrono::steady_clock::time_point began, Lsn lsn) {
  std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - began;
  auto r = std::make_shared<broker::Message>();
  r->topic = std::string(topic);
  char elapse[32];
  std::snprintf(elapse, sizeof elapse, "%.3fms", took.count());
  r->payload = std::string("{\"success\":") + (ok ? "true" : "false") + ",\"reason\":\"" + json_escape(reason) +
               "\",\"elapse\":\"" + elapse + "\"}";
  r->qos = std::min<uint8_t>(m.qos, 1);
  r->correlation_data = m.correlation_data;
  r->content_type = "application/json";
  {
    std::lock_guard lock(mu_);
    waiting_.push_back({lsn, std::move(r), nullptr});
  }
  wake_.notify_one();
}

void Ingest::durable(Lsn lsn) {
  {
    std::lock_guard lock(mu_);
    if (lsn <= durable_) return;
    durable_ = lsn;
    if (waiting_.empty()) return;
  }
  wake_.notify_one();
}

void Ingest::reply_loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    // A success waits for its rows to be durable: "inserted" must hold after a crash.
    auto due = [&] { return !waiting_.empty() && waiting_.front().lsn <= std::max(durable_, store_.durable_lsn()); };
    wake_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stop_ || due(); });
    while (!stop_ && due()) {
      Waiting w = std::move(waiting_.front());
      waiting_.pop_front();
      lock.unlock();
      if (w.reply) {
        broker::Persistence::reset_tracker();
        broker_.publish(w.reply);
        ++replies_;
      } else if (w.done) {
        w.done();
      }
      lock.lock();
    }
  }
}

void Ingest::dead_letter(const broker::Message& m, const Publisher& p, const std::string& error) {
  const std::string& table = options_.dead_letter_table;
  auto schema = tables_.schema(table);
  auto& tracker = broker::Persistence::tracker();
  if (!schema) {
    Schema s;
    s.name = table;
    s.columns = {{"time", ColumnType::time},
                 {"client", ColumnType::varchar},
                 {"topic", ColumnType::varchar},
                 {"payload", ColumnType::varchar},
                 {"error", ColumnType::varchar}};
    Lsn l = 0;
    // Made even at tables.max_tables: it is where refused messages go.
    if (std::string e = tables_.create_table(s, true, &l, false); !e.empty()) {
      spdlog::error("ingest: cannot create {}: {}", table, e);
      return;
    }
    tracker.needed = std::max(tracker.needed, l);
    schema = tables_.schema(table);
    if (!schema) return;
  }
  RowBatch b;
  b.table_id = schema->id;
  b.columns = static_cast<uint32_t>(schema->columns.size());
  b.series.push_back({});
  b.row_series.push_back(0);
  b.times.push_back(now_ns());
  for (int c : schema->field_indexes()) {
    FieldValues f;
    f.type = schema->columns[c].type;
    const std::string& n = schema->columns[c].name;
    if (n == "client") f.push_s(p.client_id);
    else if (n == "topic") f.push_s(m.topic);
    else if (n == "payload") f.push_s(std::string_view(m.payload).substr(0, 1 << 20));
    else if (n == "error") f.push_s(error);
    else f.push_null();
    b.fields.push_back(std::move(f));
  }
  auto w = tables_.write(b);
  if (w.lsn == 0) {
    spdlog::error("ingest: cannot keep the message in {}: {}", table, w.error);
    tracker.refused = true;  // then it is not acknowledged either: it comes again
    return;
  }
  tracker.needed = std::max(tracker.needed, w.lsn);
  ++dead_letters_;
}

}  // namespace mqbase::ingest
