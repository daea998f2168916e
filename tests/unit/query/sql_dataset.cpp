#include "sql_dataset.h"

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <stdexcept>

#include "store/row_batch.h"
#include "store/store.h"
#include "store/tables.h"

namespace mqbase::query::test {

namespace st = mqbase::store::tables;

namespace {

constexpr int64_t kSec = 1'000'000'000LL;
constexpr int64_t kMinute = 60 * kSec;
// 2023-12-31 12:00:00 UTC: readings' first step.
constexpr int64_t kReadingsStart = 1'704'024'000LL * kSec;
// 2024-01-01 00:00:00 UTC.
constexpr int64_t kMidnight = 1'704'067'200LL * kSec;
constexpr int kSteps = 96;  // every 30 minutes for 48 hours

// Rows before this go to block files (a checkpoint) before the rest are written.
constexpr int64_t kFlushedBefore = kMidnight + 12 * 3600 * kSec;
// The step of d2 written last, behind rows already sealed: a late row in the overflow.
constexpr int kLateStep = 5;

st::Schema make_schema(const std::string& name, std::vector<st::Column> columns) {
  st::Schema s;
  s.name = name;
  s.columns = std::move(columns);
  return s;
}

Value text_or_null(const char* s) { return s ? Value::of_text(s) : Value::make_null(Type::text); }

DatasetTable make_readings() {
  DatasetTable t;
  t.schema = make_schema("readings", {{"time", st::ColumnType::time},
                                      {"device", st::ColumnType::tag},
                                      {"site", st::ColumnType::tag},
                                      {"temp", st::ColumnType::float64},
                                      {"hum", st::ColumnType::float64},
                                      {"cnt", st::ColumnType::int64},
                                      {"ok", st::ColumnType::boolean},
                                      {"note", st::ColumnType::varchar}});
  for (int i = 1; i <= 5; ++i) {
    const std::string device = "d" + std::to_string(i);
    const std::string site = i <= 3 ? "north" : "south";
    for (int k = 0; k < kSteps; ++k) {
      if (i == 2 && k >= 28 && k <= 31) continue;  // d2's gap: 2024-01-01 02:05 .. 03:35
      if (i == 3 && k >= 90) continue;             // d3 stops three hours early
      std::vector<Value> row;
      row.push_back(Value::of_time(kReadingsStart + k * 30 * kMinute + (i - 1) * 5 * kMinute));
      row.push_back(Value::of_text(device));
      row.push_back(Value::of_text(site));
      // temp: multiples of 0.5 around 18 + 2i; d5 is outdoors, multiples of 0.75 in -6..3.
      double temp = i == 5 ? -6 + ((k * 5 + 2) % 13) * 0.75 : 18 + 2 * i + ((k * 7 + i * 3) % 11) * 0.5 - 2.5;
      row.push_back(i == 3 && k % 10 == 7 ? Value::make_null(Type::float64) : Value::of_float(temp));
      bool hum_null = (i == 1 && k % 12 == 0) || (i == 5 && k % 2 == 1);
      row.push_back(hum_null ? Value::make_null(Type::float64) : Value::of_float(30 + (k * 3 + i * 7) % 41));
      row.push_back(i == 4 ? Value::make_null(Type::int64) : Value::of_int((k * (i + 2)) % 37 - 5));
      row.push_back((k + i) % 16 == 0 ? Value::make_null(Type::boolean) : Value::of_bool((k + i) % 3 != 0));
      const char* note = nullptr;
      if (k % 24 == 0) note = "boot";
      else if (k % 24 == 12 && i % 2 == 1) note = "check 50%";
      if (i == 2 && k == 10) note = "maint_x";
      if (i == 3 && k == 40) note = "Alarm: high";
      if (i == 1 && k == 60) note = "";
      row.push_back(text_or_null(note));
      t.rows.push_back(std::move(row));
    }
  }
  // d6: one row, a fraction of a second before midnight.
  t.rows.push_back({Value::of_time(kMidnight + 86'400 * kSec - kSec / 2), Value::of_text("d6"), Value::of_text("south"),
                    Value::of_float(15.25), Value::make_null(Type::float64), Value::of_int(7),
                    Value::make_null(Type::boolean), Value::of_text("single")});
  return t;
}

DatasetTable make_tag() {
  DatasetTable t;
  t.schema = make_schema("tag", {{"name", st::ColumnType::tag}, {"time", st::ColumnType::time}, {"value", st::ColumnType::float64}});
  for (int k = 0; k < 60; ++k)
    t.rows.push_back({Value::of_text("sensor.a"), Value::of_time(kMidnight + k * kMinute), Value::of_float(k * 0.25)});
  for (int k = 0; k < 60; ++k)
    t.rows.push_back({Value::of_text("sensor.b"), Value::of_time(kMidnight + k * kMinute),
                      k % 20 == 19 ? Value::make_null(Type::float64) : Value::of_float(100 - 1.5 * k)});
  const std::pair<int, double> sparse[] = {{0, 10}, {7, 17}, {8, 18}, {25, 5}, {26, 6}, {50, 30}};
  for (auto [k, v] : sparse)
    t.rows.push_back({Value::of_text("sensor.c"), Value::of_time(kMidnight + k * kMinute), Value::of_float(v)});
  return t;
}

DatasetTable make_empty() {
  DatasetTable t;
  t.schema = make_schema("empty_t", {{"time", st::ColumnType::time}, {"device", st::ColumnType::tag}, {"v", st::ColumnType::float64}});
  return t;
}

// Appends rows of `t` to a batch for `schema` (fields in the schema's field order).
void fill_batch(const DatasetTable& t, const st::Schema& schema, const std::vector<const std::vector<Value>*>& rows,
                st::RowBatch& b) {
  b.clear();
  b.table_id = schema.id;
  b.columns = static_cast<uint32_t>(schema.columns.size());
  const int time_index = schema.time_index();
  const std::vector<int> tags = schema.tag_indexes();
  const std::vector<int> fields = schema.field_indexes();
  b.fields.resize(fields.size());
  for (size_t f = 0; f < fields.size(); ++f) b.fields[f].type = schema.columns[fields[f]].type;
  std::map<std::vector<std::string>, uint32_t> series;
  for (const std::vector<Value>* row : rows) {
    std::vector<std::string> key;
    for (int c : tags) key.push_back((*row)[c].s);
    auto [it, added] = series.try_emplace(key, static_cast<uint32_t>(b.series.size()));
    if (added) b.series.push_back(key);
    b.row_series.push_back(it->second);
    b.times.push_back((*row)[time_index].i);
    for (size_t f = 0; f < fields.size(); ++f) {
      const Value& v = (*row)[fields[f]];
      st::FieldValues& out = b.fields[f];
      if (v.null) out.push_null();
      else if (v.type == Type::float64) out.push_f(v.f);
      else if (v.type == Type::int64 || v.type == Type::boolean) out.push_i(v.i);
      else out.push_s(v.s);
    }
  }
}

std::string format_double(double d) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

const char* pg_type(st::ColumnType t) {
  switch (t) {
    case st::ColumnType::time: return "timestamptz";
    case st::ColumnType::tag:
    case st::ColumnType::varchar: return "text";
    case st::ColumnType::float64: return "double precision";
    case st::ColumnType::int64: return "bigint";
    case st::ColumnType::boolean: return "boolean";
    case st::ColumnType::json: return "json";
  }
  return "text";
}

}  // namespace

const std::vector<DatasetTable>& sql_dataset() {
  static const std::vector<DatasetTable> tables{make_readings(), make_tag(), make_empty()};
  return tables;
}

std::string format_timestamp(int64_t ns) {
  using namespace std::chrono;
  int64_t secs = ns / kSec, frac = ns % kSec;
  if (frac < 0) {
    frac += kSec;
    --secs;
  }
  int64_t days = secs / 86'400, rem = secs % 86'400;
  if (rem < 0) {
    rem += 86'400;
    --days;
  }
  year_month_day ymd{sys_days{std::chrono::days{days}}};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02d:%02d:%02d", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), static_cast<int>(rem / 3600),
                static_cast<int>(rem / 60 % 60), static_cast<int>(rem % 60));
  std::string out = buf;
  if (frac != 0) {
    char f[16];
    std::snprintf(f, sizeof f, ".%09" PRId64, frac);
    std::string digits = f;
    while (digits.back() == '0') digits.pop_back();
    out += digits;
  }
  return out + "+00";
}

std::string postgres_literal(const Value& v) {
  if (v.null) return "NULL";
  switch (v.type) {
    case Type::boolean: return v.i ? "true" : "false";
    case Type::int64: return std::to_string(v.i);
    case Type::float64: return format_double(v.f);
    case Type::timestamp: return "'" + format_timestamp(v.i) + "'";
    default: {
      std::string out = "'";
      for (char c : v.s) {
        if (c == '\'') out += '\'';
        out += c;
      }
      return out + "'";
    }
  }
}

std::string postgres_sql() {
  std::string out = "-- The conformance data set (tests/unit/query/sql_dataset.cpp).\n";
  for (const DatasetTable& t : sql_dataset()) {
    out += "CREATE TABLE " + t.schema.name + " (";
    for (size_t c = 0; c < t.schema.columns.size(); ++c) {
      if (c) out += ", ";
      out += t.schema.columns[c].name + " " + pg_type(t.schema.columns[c].type);
    }
    out += ");\n";
    for (size_t r = 0; r < t.rows.size(); r += 100) {
      out += "INSERT INTO " + t.schema.name + " VALUES\n";
      for (size_t k = r; k < std::min(r + 100, t.rows.size()); ++k) {
        out += k == r ? "  (" : ",\n  (";
        for (size_t c = 0; c < t.rows[k].size(); ++c) {
          if (c) out += ", ";
          out += postgres_literal(t.rows[k][c]);
        }
        out += ")";
      }
      out += ";\n";
    }
  }
  return out + "ANALYZE;\n";
}

std::string dataset_json() {
  std::string out = "{\"now_ns\":" + std::to_string(kDatasetNowNs) + ",\"tables\":[";
  bool first_table = true;
  for (const DatasetTable& t : sql_dataset()) {
    if (!first_table) out += ",";
    first_table = false;
    out += "\n{\"name\":" + json_string(t.schema.name) + ",\"columns\":[";
    for (size_t c = 0; c < t.schema.columns.size(); ++c) {
      if (c) out += ",";
      out += json_string(t.schema.columns[c].name + " " + std::string(st::type_name(t.schema.columns[c].type)));
    }
    out += "],\"pg_types\":[";
    for (size_t c = 0; c < t.schema.columns.size(); ++c) {
      if (c) out += ",";
      out += json_string(pg_type(t.schema.columns[c].type));
    }
    out += "],\"rows\":[";
    for (size_t r = 0; r < t.rows.size(); ++r) {
      out += r ? ",\n[" : "\n[";
      for (size_t c = 0; c < t.rows[r].size(); ++c) {
        if (c) out += ",";
        const Value& v = t.rows[r][c];
        if (v.null) out += "null";
        else if (v.type == Type::boolean) out += v.i ? "true" : "false";
        else if (v.type == Type::int64 || v.type == Type::timestamp) out += std::to_string(v.i);
        else if (v.type == Type::float64) out += format_double(v.f);
        else out += json_string(v.s);
      }
      out += "]";
    }
    out += "]}";
  }
  return out + "]}\n";
}

DatasetStore::DatasetStore(const std::string& dir) {
  st::TablesOptions topts;
  topts.dir = dir + "/tables";
  topts.block_rows = 16;
  topts.maintenance_interval = std::chrono::hours(1);
  tables_ = st::Tables::open(topts);
  store::StoreOptions sopts;
  sopts.dir = dir;
  sopts.durability = store::Durability::batch;
  sopts.batch_interval = std::chrono::milliseconds(1);
  sopts.progress_interval = std::chrono::milliseconds(0);
  st::Tables* t = tables_.get();
  sopts.before_checkpoint = [t](store::Lsn covered) { return t->flush(covered); };
  store_ = store::Store::open(sopts, nullptr, [t](uint8_t type, store::Lsn lsn, std::string_view p) { t->replay(type, lsn, p); });
  tables_->attach(*store_);

  const std::vector<DatasetTable>& data = sql_dataset();
  std::vector<std::shared_ptr<const st::Schema>> schemas;
  for (const DatasetTable& table : data) {
    store::Lsn lsn = 0;
    std::string error = tables_->create_table(table.schema, false, &lsn);
    if (!error.empty()) throw std::runtime_error("create table " + table.schema.name + ": " + error);
    schemas.push_back(tables_->schema(table.schema.name));
  }
  auto write = [&](size_t table, const std::vector<const std::vector<Value>*>& rows) {
    if (rows.empty()) return;
    st::RowBatch b;
    for (size_t r = 0; r < rows.size(); r += 40) {
      std::vector<const std::vector<Value>*> part(rows.begin() + r, rows.begin() + std::min(r + 40, rows.size()));
      fill_batch(data[table], *schemas[table], part, b);
      st::WriteResult w = tables_->write(b);
      if (w.lsn == 0) throw std::runtime_error("write " + data[table].schema.name + ": " + w.error);
    }
  };
  // Phase 1: readings before noon of 2024-01-01 (in time order, all series interleaved) and
  // sensor.a, then a checkpoint puts them in block files. Phase 2: the rest, in memory. Last,
  // d2's row at step kLateStep, behind what its series has sealed.
  const std::vector<Value>* late = nullptr;
  for (int phase = 1; phase <= 2; ++phase) {
    for (size_t table = 0; table < data.size(); ++table) {
      std::multimap<int64_t, const std::vector<Value>*> by_time;
      const int time_index = data[table].schema.time_index();
      for (const std::vector<Value>& row : data[table].rows) {
        bool first_phase = table == 0 ? row[time_index].i < kFlushedBefore : row[0].s == "sensor.a";
        if (table == 0 && row[1].s == "d2" && row[time_index].i == kReadingsStart + kLateStep * 30 * kMinute + 5 * kMinute) {
          late = &row;
          continue;
        }
        if (first_phase == (phase == 1)) by_time.emplace(row[time_index].i, &row);
      }
      std::vector<const std::vector<Value>*> rows;
      for (auto& [time, row] : by_time) rows.push_back(row);
      write(table, rows);
    }
    if (phase == 1 && !store_->checkpoint()) throw std::runtime_error("checkpoint failed");
  }
  if (!late) throw std::runtime_error("the late row is missing");
  write(0, {late});
}

DatasetStore::~DatasetStore() {
  tables_->close();
  store_->close();
}

}  // namespace mqbase::query::test
