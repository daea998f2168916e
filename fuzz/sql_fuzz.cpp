// libFuzzer harness for the SQL engine (src/query): the input is a query, run by
// query::Engine over the conformance data set (tests/unit/query/sql_dataset.h: readings, tag,
// empty_t) through the real store, as the server runs what HTTP, MQTT db/query and the CLI
// hand it. Its seeds are the conformance table's statements (run_bounded.sh extracts them).
// Queries that would change the data set (INSERT, CREATE, DROP, DELETE, ALTER) are left out,
// so that every input meets the same tables and memory stays flat over millions of runs.
// Whatever the query, the engine must answer or give an error: no crash, leak, overflow or
// undefined behaviour (built with ASan+UBSan); an error must say something and point within
// the query; a query must stop within its time limit (the harness gives it
// 200 ms and 64 MiB) give or take what one chunk costs.
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "query/engine.h"
#include "sql_dataset.h"

using namespace mqbase;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

class CountRows : public query::ResultSink {
 public:
  void begin(const std::vector<query::ColumnInfo>& columns) override { this->columns = columns.size(); }
  bool rows(const query::Chunk& c) override {
    check(c.columns.size() == columns);
    for (const query::Vector& v : c.columns)
      if (c.rows) (void)v.get(c.rows - 1);  // every column holds its rows
    total += c.rows;
    return true;
  }
  size_t columns = 0;
  uint64_t total = 0;
};

struct World {
  std::string dir;
  std::unique_ptr<query::test::DatasetStore> data;
  std::unique_ptr<query::Engine> engine;
  ~World() {
    engine.reset();
    data.reset();
    std::filesystem::remove_all(dir);
  }
};
World* world = nullptr;

// The first word, lower-cased, after spaces, comments and opening parentheses.
std::string first_word(std::string_view q) {
  size_t i = 0;
  for (;;) {
    while (i < q.size() && (std::isspace(static_cast<unsigned char>(q[i])) || q[i] == '(')) ++i;
    if (q.substr(i, 2) == "--") {
      while (i < q.size() && q[i] != '\n') ++i;
    } else if (q.substr(i, 2) == "/*") {
      size_t end = q.find("*/", i + 2);
      i = end == std::string_view::npos ? q.size() : end + 2;
    } else {
      break;
    }
  }
  std::string w;
  while (i < q.size() && std::isalpha(static_cast<unsigned char>(q[i])))
    w += static_cast<char>(std::tolower(static_cast<unsigned char>(q[i++])));
  return w;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  world = new World;
  char tmpl[] = "/tmp/mqbase-sql-fuzz-XXXXXX";
  world->dir = ::mkdtemp(tmpl);
  world->data = std::make_unique<query::test::DatasetStore>(world->dir + "/data");
  world->engine = std::make_unique<query::Engine>(&world->data->tables(), nullptr);
  std::atexit([] { delete world; });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  std::string sql(reinterpret_cast<const char*>(data), size);
  std::string w = first_word(sql);
  if (w != "select" && w != "with" && w != "values" && w != "table" && w != "show" && w != "describe" &&
      w != "explain")
    return 0;
  // A statement after a semicolon is refused by the engine ("multiple commands"); a data-
  // modifying CTE or EXPLAIN of a write is refused too, but keep them out all the same.
  std::string lower;
  for (char c : sql) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* verb : {"insert", "delete", "drop", "create", "alter", "update", "truncate"})
    if (lower.find(verb) != std::string::npos) return 0;
  query::QueryOptions o;
  o.now_ns = query::test::kDatasetNowNs;
  o.timeout = std::chrono::milliseconds(200);
  o.memory_limit = 64ull << 20;
  CountRows out;
  auto began = std::chrono::steady_clock::now();
  query::QueryStatus st = world->engine->execute(sql, o, out);
  auto took = std::chrono::steady_clock::now() - began;
  check(took < std::chrono::seconds(10));  // the time limit holds, with room for ASan and a busy machine
  if (!st.ok) {
    // The error may quote the query's own bytes (PostgreSQL's 'at or near "..."'): the answer
    // formats escape them. It must say something, and point within the query.
    check(!st.error.empty());
    check(st.position >= 0 && static_cast<size_t>(st.position) <= sql.size() + 1);
  }
  return 0;
}
