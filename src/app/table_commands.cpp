// `mqbase tables list` and `mqbase tables dump`: the tables of a data directory read offline
// (the server stopped: the directory's lock is taken), for scripts, tests and a look at what
// ingest stored until SQL arrives. Nothing in the directory changes: the WAL is replayed into
// memory (durability none) and the block files are only read.
#include <cinttypes>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>

#include "app/commands.h"
#include "ingest/payload.h"
#include "store/store.h"
#include "store/tables.h"

namespace mqbase::app {
namespace {

using store::tables::ColumnType;

struct Opened {
  std::unique_ptr<store::tables::Tables> tables;
  std::unique_ptr<store::Store> store;
};

Opened open_offline(const std::string& dir) {
  Opened o;
  store::tables::TablesOptions to;
  to.dir = dir + "/tables";
  to.read_only = true;
  o.tables = store::tables::Tables::open(to);
  store::StoreOptions so;
  so.dir = dir;
  so.durability = store::Durability::none;  // read, change nothing
  so.progress_interval = std::chrono::milliseconds(0);
  auto* t = o.tables.get();
  o.store = store::Store::open(so, nullptr, [t](uint8_t type, store::Lsn lsn, std::string_view p) { t->replay(type, lsn, p); });
  return o;
}

// 2024-05-01T12:00:00.123456789Z (UTC; the fraction without trailing zeros).
std::string rfc3339(int64_t ns) {
  int64_t secs = ns / 1'000'000'000, frac = ns % 1'000'000'000;
  if (frac < 0) {
    frac += 1'000'000'000;
    --secs;
  }
  int64_t days = secs / 86400, rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  // Howard Hinnant's civil_from_days.
  int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04" PRId64 "-%02" PRId64 "-%02" PRId64 "T%02" PRId64 ":%02" PRId64 ":%02" PRId64, y, m,
                        d, rem / 3600, rem / 60 % 60, rem % 60);
  std::string out(buf, n);
  if (frac) {
    std::snprintf(buf, sizeof buf, ".%09" PRId64, frac);
    std::string f(buf);
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out + "Z";
}

std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

struct DumpFlags {
  std::string dir = "./mqbase-data";
  std::string table;
  std::string from, to, time_format = "rfc3339";
  std::vector<std::string> tags;
};

int dump(const DumpFlags& f) {
  Opened o = open_offline(f.dir);
  auto schema = o.tables->schema(f.table);
  if (!schema) {
    std::fprintf(stderr, "mqbase: table '%s' does not exist in %s\n", f.table.c_str(), f.dir.c_str());
    return 1;
  }
  store::tables::ScanSpec spec;
  std::string error;
  for (auto [text, bound] : {std::pair{&f.from, &spec.from}, std::pair{&f.to, &spec.to}}) {
    if (text->empty()) continue;
    ingest::Cell c;
    c.kind = ingest::Cell::Kind::string;
    c.s = *text;
    if (!ingest::parse_time(c, "ns", "UTC", bound, &error)) {
      std::fprintf(stderr, "mqbase: %s\n", error.c_str());
      return 2;
    }
  }
  for (const std::string& kv : f.tags) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "mqbase: --tag takes column=value, not '%s'\n", kv.c_str());
      return 2;
    }
    spec.tags.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  // Header: the columns in table order.
  std::vector<int> tags = schema->tag_indexes(), fields = schema->field_indexes();
  std::string line;
  for (size_t c = 0; c < schema->columns.size(); ++c) line += (c ? "," : "") + schema->columns[c].name;
  std::cout << line << "\n";
  bool ok = o.tables->scan(f.table, spec, [&](const std::vector<std::string>& tv, const store::tables::SeriesRows& rows) {
    std::vector<std::string> cells(schema->columns.size());
    for (size_t k = 0; k < tags.size(); ++k) cells[tags[k]] = csv_quote(tv[k]);
    for (size_t r = 0; r < rows.rows(); ++r) {
      cells[schema->time_index()] = f.time_format == "ns" ? std::to_string(rows.times[r]) : rfc3339(rows.times[r]);
      for (size_t k = 0; k < fields.size(); ++k) {
        const auto& fv = rows.fields[k];
        std::string& cell = cells[fields[k]];
        if (!fv.valid[r]) {
          cell.clear();
          continue;
        }
        switch (fv.type) {
          case ColumnType::float64: {
            char b[32];
            std::snprintf(b, sizeof b, "%.17g", fv.f[r]);
            cell = b;
            break;
          }
          case ColumnType::int64: cell = std::to_string(fv.i[r]); break;
          case ColumnType::boolean: cell = fv.i[r] ? "true" : "false"; break;
          default: cell = csv_quote(fv.s[r]); break;
        }
      }
      line.clear();
      for (size_t c = 0; c < cells.size(); ++c) line += (c ? "," : "") + cells[c];
      std::cout << line << "\n";
    }
  }, &error);
  if (!ok) {
    std::fprintf(stderr, "mqbase: %s\n", error.c_str());
    return 1;
  }
  return 0;
}

int list(const std::string& dir) {
  Opened o = open_offline(dir);
  for (const auto& t : o.tables->list()) {
    std::string cols;
    for (const auto& c : t.schema->columns)
      cols += (cols.empty() ? "" : ", ") + c.name + " " + std::string(store::tables::type_name(c.type));
    std::printf("%s (%s)\n  rows %" PRIu64 " (on disk %" PRIu64 ", in the log %" PRIu64 "), series %" PRIu64
                ", partitions %" PRIu64 ", files %" PRIu64 ", bytes on disk %" PRIu64 "\n",
                t.schema->name.c_str(), cols.c_str(), t.rows_on_disk + t.rows_in_memory, t.rows_on_disk,
                t.rows_in_memory, t.series, t.partitions, t.files, t.bytes_on_disk);
    if (t.min_time || t.max_time) std::printf("  time %s .. %s\n", rfc3339(t.min_time).c_str(), rfc3339(t.max_time).c_str());
  }
  return 0;
}

// Runs a command, turning an exception (a damaged file, an unreadable directory) into its
// message and exit code 1.
void run(const std::function<int()>& command) {
  try {
    set_exit_code(command());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mqbase: %s\n", e.what());
    set_exit_code(1);
  }
}

}  // namespace

void add_table_commands(CLI::App& app) {
  auto* cmd = app.add_subcommand("tables", "Read the time-series tables of a data directory (offline)");
  cmd->require_subcommand(1);
  auto dir = std::make_shared<std::string>("./mqbase-data");
  auto* ls = cmd->add_subcommand("list", "Each table: columns, rows, series, partitions, bytes on disk, time range");
  ls->add_option("--data-dir", *dir, "Data directory")->check(CLI::ExistingDirectory);
  ls->callback([dir] { run([&] { return list(*dir); }); });
  auto f = std::make_shared<DumpFlags>();
  auto* d = cmd->add_subcommand("dump", "A table's rows as CSV, series by series, each sorted by time");
  d->add_option("table", f->table, "Table name")->required();
  d->add_option("--data-dir", f->dir, "Data directory")->check(CLI::ExistingDirectory);
  d->add_option("--from", f->from, "First time (RFC 3339 or ns since the epoch), inclusive");
  d->add_option("--to", f->to, "Last time, exclusive");
  d->add_option("--tag", f->tags, "Only series whose tag column=value (repeatable)");
  d->add_option("--time", f->time_format, "Time column as rfc3339 (default) or ns")->check(CLI::IsMember({"rfc3339", "ns"}));
  d->callback([f] { run([&] { return dump(*f); }); });
}

}  // namespace mqbase::app
