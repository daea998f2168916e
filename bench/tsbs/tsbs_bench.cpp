// tsbs_bench: the TSBS IoT benchmark's mqbase side and its data (docs/benchmarks.md#sql-tsbs-iot;
// bench/tsbs_compare.sh runs it against PostgreSQL 15).
//
//   tsbs_bench info    DATA                      trucks, epochs, span (one JSON line)
//   tsbs_bench gen     DATA --table T            CSV for PostgreSQL's COPY: T = tags, readings or
//                                                diagnostics (TSBS's TimescaleDB schema: tags_id)
//   tsbs_bench load    DATA --dir D              writes the rows into mqbase tables in D (in
//                                                process: Store + Tables, RowBatch writes) and
//                                                checkpoints them to block files, then compacts
//                                                them as the server's maintenance would
//   tsbs_bench queries DATA                      the queries, one JSON line each
//   tsbs_bench query   DATA --dir D [--runs R] [--warmup W] [--only a,b] [--answers]
//                      [--memory-limit BYTES] [--timeout-ms MS]
//                                                runs each query W times untimed, then R times
//                                                timed, on the tables in D opened offline;
//                                                one JSON line per query (times in ms, the
//                                                answer's rows with --answers)
//   tsbs_bench sql     --dir D --sql "..."       one statement (EXPLAIN ...) on the tables in D;
//                                                its rows as tab-separated text
//
// DATA: --rows N (target rows of both tables together; trucks = N / (2 x epochs x 0.891), the
// share of rows TSBS does not drop) or --trucks T; --hours H (default 72, TSBS's usual 3
// days); --seed S (123). The same DATA always gives the same rows and the same queries.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "iot_generator.h"
#include "iot_queries.h"
#include "query/engine.h"
#include "store/store.h"
#include "store/tables.h"

namespace st = mqbase::store::tables;
using namespace mqbase;
using namespace mqbase::bench::tsbs;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "tsbs_bench: %s\n", what.c_str());
  std::exit(2);
}

struct Args {
  std::string command;
  std::map<std::string, std::string> opts;
  bool has(const std::string& k) const { return opts.count(k) != 0; }
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = opts.find(k);
    return it == opts.end() ? def : it->second;
  }
  uint64_t num(const std::string& k, uint64_t def) const {
    if (!has(k)) return def;
    const std::string text = get(k);
    char* end = nullptr;
    uint64_t v = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || !end || *end) die("--" + k + " wants a number, not '" + text + "'");
    return v;
  }
};

Args parse(int argc, char** argv) {
  if (argc < 2) die("usage: tsbs_bench info|gen|load|queries|query|sql [options] (see bench/tsbs/tsbs_bench.cpp)");
  Args a;
  a.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) die("unexpected argument '" + k + "'");
    k = k.substr(2);
    if (k == "answers") {
      a.opts[k] = "1";
      continue;
    }
    if (i + 1 >= argc) die("--" + k + " wants a value");
    a.opts[k] = argv[++i];
  }
  return a;
}

IotConfig data_config(const Args& a) {
  IotConfig c;
  const uint64_t hours = a.num("hours", 72);
  if (hours == 0) die("--hours must be at least 1");
  c.epochs = static_cast<int64_t>(hours) * 360;
  c.seed = a.num("seed", 123);
  if (a.has("trucks")) {
    c.trucks = a.num("trucks", 0);
  } else {
    const double rows = static_cast<double>(a.num("rows", 1'000'000));
    c.trucks = static_cast<uint64_t>(std::llround(rows / (2.0 * static_cast<double>(c.epochs) * 0.891)));
  }
  if (c.trucks == 0) c.trucks = 1;
  return c;
}

// ---- JSON out ------------------------------------------------------------------------------

// Appends `s` as a JSON string to `out`.
void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  out += '"';
}

std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

void append_json_double(std::string& out, double x) {
  if (!std::isfinite(x)) {
    out += std::isnan(x) ? "\"NaN\"" : x > 0 ? "\"Infinity\"" : "\"-Infinity\"";
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, x);
  out.append(buf, r.ptr);
}

std::string json_double(double x) {
  std::string out;
  append_json_double(out, x);
  return out;
}

// ---- gen -----------------------------------------------------------------------------------

// A stdout writer that formats numbers without the C library's locale machinery.
class Out {
 public:
  Out() { buf_.reserve(1 << 20); }
  ~Out() { flush(); }
  void put(std::string_view s) {
    buf_.append(s);
    if (buf_.size() > (1 << 20)) flush();
  }
  void put(char c) { buf_.push_back(c); }
  void num(double x) {
    char b[32];
    auto r = std::to_chars(b, b + sizeof b, x);
    buf_.append(b, r.ptr);
  }
  void num(uint64_t x) {
    char b[24];
    auto r = std::to_chars(b, b + sizeof b, x);
    buf_.append(b, r.ptr);
  }
  void flush() {
    if (!buf_.empty() && std::fwrite(buf_.data(), 1, buf_.size(), stdout) != buf_.size()) die("write to stdout failed");
    buf_.clear();
  }

 private:
  std::string buf_;
};

// The tags rows: id = truck + 1 for each truck's own tag set; then one row per distinct tag
// set with name NULL (a truck's other tags), ids after the trucks'.
std::vector<uint32_t> null_name_ids(const IotGenerator& gen, std::vector<uint32_t>* first_truck) {
  std::map<std::vector<std::string>, uint32_t> seen;
  std::vector<uint32_t> ids(gen.trucks().size());
  const uint32_t base = static_cast<uint32_t>(gen.trucks().size()) + 1;
  for (uint32_t k = 0; k < gen.trucks().size(); ++k) {
    auto [it, fresh] = seen.emplace(gen.tag_values(k, true), base + static_cast<uint32_t>(seen.size()));
    if (fresh && first_truck) first_truck->push_back(k);
    ids[k] = it->second;
  }
  return ids;
}

int cmd_gen(const Args& a) {
  IotGenerator gen(data_config(a));
  const std::string table = a.get("table");
  Out out;
  std::vector<uint32_t> first;
  const auto null_ids = null_name_ids(gen, &first);
  if (table == "tags") {
    auto row = [&](uint32_t id, uint32_t truck, bool name_null) {
      out.num(static_cast<uint64_t>(id));
      for (const auto& v : gen.tag_values(truck, name_null)) {
        out.put(',');
        out.put(v);  // no value needs quoting; "" (a NULL name) is CSV's NULL
      }
      out.put('\n');
    };
    for (uint32_t k = 0; k < gen.trucks().size(); ++k) row(k + 1, k, false);
    for (uint32_t k : first) row(null_ids[k], k, true);
    return 0;
  }
  IotTable want;
  int fields;
  if (table == "readings") {
    want = IotTable::readings;
    fields = kReadingFields;
  } else if (table == "diagnostics") {
    want = IotTable::diagnostics;
    fields = kDiagnosticFields;
  } else {
    die("--table must be tags, readings or diagnostics");
  }
  std::string time_text;
  while (!gen.done()) {
    time_text = sql_time(gen.config().start_ns + gen.epoch() * gen.config().interval_ns);
    gen.next_epoch([&](IotTable t, const IotRow& r) {
      if (t != want) return;
      out.put(time_text);
      out.put(',');
      out.num(static_cast<uint64_t>(r.name_null ? null_ids[r.truck] : r.truck + 1));
      for (int f = 0; f < fields; ++f) {
        out.put(',');
        if (!(r.nulls & (1u << f))) out.num(r.v[f]);
      }
      out.put('\n');
    });
  }
  return 0;
}

int cmd_info(const Args& a) {
  IotConfig c = data_config(a);
  std::printf("{\"trucks\":%" PRIu64 ",\"epochs\":%" PRId64 ",\"interval_s\":%" PRId64 ",\"start\":%s,\"end\":%s,\"seed\":%" PRIu64
              ",\"expected_rows\":%.0f}\n",
              c.trucks, c.epochs, c.interval_ns / kNanos, json_string(sql_time(c.start_ns)).c_str(),
              json_string(sql_time(c.start_ns + c.epochs * c.interval_ns)).c_str(), c.seed,
              2.0 * static_cast<double>(c.trucks) * static_cast<double>(c.epochs) * 0.891);
  return 0;
}

int cmd_queries(const Args& a) {
  IotGenerator gen(data_config(a));
  for (const auto& q : iot_queries(gen)) {
    std::printf("{\"name\":%s,\"postgres\":%s,\"mqbase\":%s,\"unsupported\":%s,\"note\":%s}\n", json_string(q.name).c_str(),
                json_string(q.postgres).c_str(), q.mqbase.empty() ? "null" : json_string(q.mqbase).c_str(),
                q.unsupported.empty() ? "null" : json_string(q.unsupported).c_str(), json_string(q.note).c_str());
  }
  return 0;
}

// ---- load ----------------------------------------------------------------------------------

// CPU time of this process (the engine runs a query on the calling thread; the store's
// threads are idle while the tables are opened offline). On a machine others load, wall time
// counts their turns on the cores too; CPU time does not.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

st::Schema table_schema(const char* name, const char* const* fields, int nfields) {
  st::Schema s;
  s.name = name;
  s.columns.push_back({"time", st::ColumnType::time});
  for (const char* tag : IotGenerator::kTagNames) s.columns.push_back({tag, st::ColumnType::tag});
  for (int f = 0; f < nfields; ++f) s.columns.push_back({fields[f], st::ColumnType::float64});
  return s;
}

int cmd_load(const Args& a) {
  const std::string dir = a.get("dir");
  if (dir.empty()) die("load wants --dir");
  IotGenerator gen(data_config(a));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);

  st::TablesOptions topts;
  topts.dir = dir + "/tables";
  topts.memory_budget = 1ull << 30;
  topts.maintenance_interval = std::chrono::hours(1);
  auto tables = st::Tables::open(topts);
  store::StoreOptions sopts;
  sopts.dir = dir;
  sopts.durability = store::Durability::batch;
  sopts.progress_interval = std::chrono::milliseconds(0);
  st::Tables* t = tables.get();
  sopts.before_checkpoint = [t](store::Lsn covered) { return t->flush(covered); };
  auto store = store::Store::open(sopts, nullptr, [t](uint8_t type, store::Lsn lsn, std::string_view p) { t->replay(type, lsn, p); });
  tables->attach(*store);

  const st::Schema schemas[2] = {table_schema("readings", IotGenerator::kReadingNames, kReadingFields),
                                 table_schema("diagnostics", IotGenerator::kDiagnosticNames, kDiagnosticFields)};
  std::shared_ptr<const st::Schema> created[2];
  for (int i = 0; i < 2; ++i) {
    store::Lsn lsn = 0;
    if (auto e = tables->create_table(schemas[i], false, &lsn); !e.empty()) die("create " + schemas[i].name + ": " + e);
    created[i] = tables->schema(schemas[i].name);
  }

  // Writes of about 100,000 rows: whole epochs, every truck.
  const uint64_t trucks = gen.trucks().size();
  const int64_t epochs_per_write = std::max<int64_t>(1, static_cast<int64_t>(50'000 / trucks));
  st::RowBatch batch[2];
  // Per batch: the series index of (truck, name_null), -1 until the batch uses it.
  std::vector<int32_t> slot[2];
  auto reset = [&](int i) {
    batch[i].clear();
    batch[i].table_id = created[i]->id;
    batch[i].columns = static_cast<uint32_t>(created[i]->columns.size());
    const int nfields = i == 0 ? kReadingFields : kDiagnosticFields;
    batch[i].fields.resize(static_cast<size_t>(nfields));
    for (auto& f : batch[i].fields) f.type = st::ColumnType::float64;
    slot[i].assign(2 * trucks, -1);
  };
  // Tag sets with name NULL are shared by trucks whose other tags match (one series each).
  std::vector<uint32_t> null_owner(trucks);
  {
    std::map<std::vector<std::string>, uint32_t> owner;
    for (uint32_t k = 0; k < trucks; ++k) null_owner[k] = owner.emplace(gen.tag_values(k, true), k).first->second;
  }
  uint64_t rows[2] = {0, 0};
  auto write = [&](int i) {
    if (batch[i].rows() == 0) return;
    auto w = tables->write(batch[i]);
    if (!w.lsn) die("write refused: " + w.error);
    rows[i] += batch[i].rows();
    reset(i);
  };
  reset(0);
  reset(1);
  auto t0 = std::chrono::steady_clock::now();
  while (!gen.done()) {
    for (int64_t e = 0; e < epochs_per_write && !gen.done(); ++e) {
      gen.next_epoch([&](IotTable table, const IotRow& r) {
        const int i = static_cast<int>(table);
        st::RowBatch& b = batch[i];
        const uint32_t key = r.name_null ? static_cast<uint32_t>(trucks) + null_owner[r.truck] : r.truck;
        int32_t& s = slot[i][key];
        if (s < 0) {
          s = static_cast<int32_t>(b.series.size());
          b.series.push_back(gen.tag_values(r.name_null ? null_owner[r.truck] : r.truck, r.name_null));
        }
        b.row_series.push_back(static_cast<uint32_t>(s));
        b.times.push_back(r.time_ns);
        const int nfields = i == 0 ? kReadingFields : kDiagnosticFields;
        for (int f = 0; f < nfields; ++f) {
          if (r.nulls & (1u << f)) b.fields[static_cast<size_t>(f)].push_null();
          else b.fields[static_cast<size_t>(f)].push_f(r.v[f]);
        }
      });
    }
    write(0);
    write(1);
  }
  const double write_s = seconds_since(t0);
  store->checkpoint();
  // What the server's maintenance does within tables.maintenance_interval (10 s) of the load:
  // each partition's flushes merged into one file of whole blocks per series.
  const auto c0 = std::chrono::steady_clock::now();
  const size_t compacted = tables->compact();
  const double compact_s = seconds_since(c0);
  const double total_s = seconds_since(t0);
  uint64_t bytes = 0, on_disk = 0, in_memory = 0, series = 0;
  for (const auto& info : tables->list()) {
    bytes += info.bytes_on_disk;
    on_disk += info.rows_on_disk;
    in_memory += info.rows_in_memory;
    series += info.series;
  }
  tables->close();
  store->close();
  std::printf("{\"trucks\":%" PRIu64 ",\"readings\":%" PRIu64 ",\"diagnostics\":%" PRIu64 ",\"rows\":%" PRIu64 ",\"series\":%" PRIu64
              ",\"rows_on_disk\":%" PRIu64 ",\"rows_in_memory\":%" PRIu64 ",\"bytes_on_disk\":%" PRIu64
              ",\"write_s\":%.2f,\"compactions\":%zu,\"compact_s\":%.2f,\"load_s\":%.2f}\n",
              trucks, rows[0], rows[1], rows[0] + rows[1], series, on_disk, in_memory, bytes, write_s, compacted, compact_s, total_s);
  return 0;
}

// ---- query ---------------------------------------------------------------------------------

// Keeps the answer as JSON text, a row at a time into one buffer, as a server writes a
// result for its client: this runs inside the timed query, so it does no more than that (no
// string per cell or per row).
class AnswerSink : public query::ResultSink {
 public:
  void begin(const std::vector<query::ColumnInfo>& columns) override {
    columns_ = columns;
    text_.clear();
    rows_ = 0;
  }
  bool rows(const query::Chunk& c) override {
    for (size_t r = 0; r < c.rows; ++r) {
      text_ += rows_++ ? ",[" : "[";
      for (size_t k = 0; k < c.columns.size(); ++k) {
        if (k) text_ += ',';
        cell(c.columns[k], r);
      }
      text_ += ']';
    }
    return true;
  }
  const std::vector<query::ColumnInfo>& columns() const { return columns_; }
  size_t row_count() const { return rows_; }
  // The rows as JSON arrays, comma-separated.
  const std::string& answer() const { return text_; }

 private:
  void cell(const query::Vector& v, size_t r) {
    if (v.is_null(r)) {
      text_ += "null";
      return;
    }
    const size_t at = v.at(r);
    char buf[24];
    switch (v.type) {
      case query::Type::boolean: text_ += v.i[at] ? "true" : "false"; return;
      case query::Type::int64:
      case query::Type::timestamp:
      case query::Type::interval: text_.append(buf, std::to_chars(buf, buf + sizeof buf, v.i[at]).ptr); return;
      case query::Type::float64: append_json_double(text_, v.f[at]); return;
      case query::Type::text:
      case query::Type::json: append_json_string(text_, v.s[at]); return;
      case query::Type::null: text_ += "null"; return;
    }
    text_ += "null";
  }
  std::vector<query::ColumnInfo> columns_;
  std::string text_;
  size_t rows_ = 0;
};

// The tables of a data directory opened offline, as `mqbase tables` opens one: nothing in it
// changes (the log is replayed into memory, durability none).
struct Offline {
  std::unique_ptr<st::Tables> tables;
  std::unique_ptr<store::Store> store;
};

Offline open_offline(const std::string& dir) {
  Offline o;
  st::TablesOptions topts;
  topts.dir = dir + "/tables";
  topts.read_only = true;
  o.tables = st::Tables::open(topts);
  store::StoreOptions sopts;
  sopts.dir = dir;
  sopts.durability = store::Durability::none;
  sopts.progress_interval = std::chrono::milliseconds(0);
  st::Tables* t = o.tables.get();
  o.store = store::Store::open(sopts, nullptr, [t](uint8_t type, store::Lsn lsn, std::string_view p) { t->replay(type, lsn, p); });
  return o;
}

// Prints a statement's rows as tab-separated text, for EXPLAIN and a look at an answer.
class TextSink : public query::ResultSink {
 public:
  void begin(const std::vector<query::ColumnInfo>& columns) override {
    for (size_t k = 0; k < columns.size(); ++k) std::printf("%s%s", k ? "\t" : "", columns[k].name.c_str());
    std::printf("\n");
  }
  bool rows(const query::Chunk& c) override {
    for (size_t r = 0; r < c.rows; ++r) {
      for (size_t k = 0; k < c.columns.size(); ++k) {
        const query::Vector& col = c.columns[k];
        std::string v;
        if (col.is_null(r)) v = "NULL";
        else if (query::uses_strings(col.type)) v = col.s[col.at(r)];
        else if (col.type == query::Type::float64) v = json_double(col.f[col.at(r)]);
        else v = std::to_string(col.i[col.at(r)]);
        std::printf("%s%s", k ? "\t" : "", v.c_str());
      }
      std::printf("\n");
    }
    return true;
  }
};

int cmd_sql(const Args& a) {
  const std::string dir = a.get("dir");
  if (dir.empty() || !a.has("sql")) die("sql wants --dir and --sql");
  Offline db = open_offline(dir);
  query::Engine engine(db.tables.get(), nullptr);
  query::QueryOptions qo;
  qo.timeout = std::chrono::milliseconds(0);
  qo.memory_limit = 0;
  TextSink sink;
  auto t0 = std::chrono::steady_clock::now();
  auto status = engine.execute(a.get("sql"), qo, sink);
  std::fprintf(stderr, "%s in %.3f ms\n", status.ok ? status.tag.c_str() : status.describe().c_str(), seconds_since(t0) * 1000);
  db.tables->close();
  db.store->close();
  return status.ok ? 0 : 1;
}

int cmd_query(const Args& a) {
  const std::string dir = a.get("dir");
  if (dir.empty()) die("query wants --dir");
  IotGenerator gen(data_config(a));
  const int runs = static_cast<int>(a.num("runs", 5));
  const int warmup = static_cast<int>(a.num("warmup", 1));
  std::set<std::string> only;
  if (a.has("only")) {
    std::stringstream ss(a.get("only"));
    for (std::string n; std::getline(ss, n, ',');) only.insert(n);
  }

  auto t_open = std::chrono::steady_clock::now();
  Offline db = open_offline(dir);
  auto& tables = db.tables;
  auto& store = db.store;
  const double open_ms = seconds_since(t_open) * 1000;

  query::Engine engine(tables.get(), nullptr);
  query::QueryOptions qo;
  qo.timeout = std::chrono::milliseconds(a.num("timeout-ms", 0));
  qo.memory_limit = a.num("memory-limit", 0);
  const bool answers = a.has("answers");
  for (const auto& q : iot_queries(gen)) {
    if (!only.empty() && !only.count(q.name)) continue;
    std::string head = "{\"system\":\"mqbase\",\"query\":" + json_string(q.name) + ",\"open_ms\":" + json_double(open_ms);
    if (q.mqbase.empty()) {
      std::printf("%s,\"status\":\"unsupported\",\"reason\":%s}\n", head.c_str(), json_string(q.unsupported).c_str());
      std::fflush(stdout);
      continue;
    }
    std::vector<double> ms, cpu_ms;
    AnswerSink sink;
    std::string error;
    for (int r = 0; r < warmup + runs && error.empty(); ++r) {
      const double c0 = cpu_seconds();
      auto q0 = std::chrono::steady_clock::now();
      auto status = engine.execute(q.mqbase, qo, sink);
      double took = seconds_since(q0) * 1000;
      const double cpu = (cpu_seconds() - c0) * 1000;
      if (!status.ok) {
        error = status.describe();
      } else if (r >= warmup) {
        ms.push_back(took);
        cpu_ms.push_back(cpu);
      }
    }
    if (!error.empty()) {
      std::printf("%s,\"status\":\"error\",\"error\":%s}\n", head.c_str(), json_string(error).c_str());
      std::fflush(stdout);
      continue;
    }
    std::string line = head + ",\"status\":\"ok\",\"ms\":[";
    for (size_t i = 0; i < ms.size(); ++i) line += (i ? "," : "") + json_double(ms[i]);
    line += "],\"cpu_ms\":[";
    for (size_t i = 0; i < cpu_ms.size(); ++i) line += (i ? "," : "") + json_double(cpu_ms[i]);
    line += "],\"rows\":" + std::to_string(sink.row_count());
    if (answers) {
      line += ",\"columns\":[";
      for (size_t i = 0; i < sink.columns().size(); ++i) {
        line += (i ? "," : "") + std::string("[") + json_string(sink.columns()[i].name) + "," +
                json_string(query::type_name(sink.columns()[i].type)) + "]";
      }
      line += "],\"answer\":[" + sink.answer() + "]";
    }
    std::printf("%s}\n", line.c_str());
    std::fflush(stdout);
  }
  tables->close();
  store->close();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  mqbase::query::keep_freed_memory();  // as mqbase serve does
  Args a = parse(argc, argv);
  try {
    if (a.command == "info") return cmd_info(a);
    if (a.command == "gen") return cmd_gen(a);
    if (a.command == "load") return cmd_load(a);
    if (a.command == "queries") return cmd_queries(a);
    if (a.command == "query") return cmd_query(a);
    if (a.command == "sql") return cmd_sql(a);
  } catch (const std::exception& e) {
    die(e.what());
  }
  die("unknown command '" + a.command + "' (info, gen, load, queries, query, sql)");
}
