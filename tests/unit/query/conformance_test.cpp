// The SQL conformance table (issue 12): every case of tests/unit/query/conformance/*.test runs
// through query::Engine on the fixed data set (sql_dataset.h) and its answer is compared with
// the case's expected rows. Each case is its own test (Sql/Conformance.<file>_<name>), so
// ctest lists and runs each one.
//
// ## The .test format
//
//   # a comment (between cases)
//   query <name> [rowsort] [contains] [pg]
//   params: 1, 'a', 2.5, NULL, true        <- optional: $1, $2, ... (int, double, 'text', bool, NULL)
//   SELECT device, avg(temp)               <- the SQL, one or more lines (no blank line)
//   FROM readings GROUP BY device
//   ----pg                                 <- optional: a PostgreSQL query giving the same
//   SELECT ...                                answer, for regenerating the expectation (regen.py)
//   ----
//   device:text	avg:float8               <- header: name:type per column, tab separated
//   d1	21.5                              <- rows, tab separated
//                                          <- a blank line (or the end of the file) ends the case
//
//   statement <name> [pg]                  <- a statement without rows: its command tag
//   CREATE TABLE t (...)
//   ----
//   CREATE TABLE
//
//   error <name> [pg]                      <- a statement that fails: PostgreSQL's words, and
//   SELECT nope FROM readings                 '@N', the 1-based character it names (no '@N'
//   ----                                      when it names none)
//   column "nope" does not exist @8
//
// Names are [A-Za-z0-9_], unique in their file. Cells: NULL; booleans t/f; integers; doubles
// as PostgreSQL prints them; timestamps in UTC as '2024-01-01 00:00:00+00' (a fraction of a
// second when there is one, '23:59:59.5+00'); intervals as PostgreSQL's default style
// ('01:30:00', '1 day 02:00:00', '-00:30:00'); text as is, '(empty)' for an empty string, tab
// and newline as \t and \n; '*' matches any value (a table's bytes on disk). Types are PostgreSQL's short names: bool, int8, float8, text,
// timestamptz, interval, json (unknown: a bare NULL's type). A header cell without ':type'
// does not check the type.
//
// Comparison: names, types and cells exactly, except float8 cells, which are equal when they
// agree to 6 significant digits (or within a relative 1e-6, so a value on a rounding boundary
// does not flip). Rows in order unless `rowsort`: then both sides are sorted first (a query
// without ORDER BY). `contains`: each expected line must occur (ASCII case-insensitive) in the
// rendered answer (header and rows; EXPLAIN). `pg` marks a case PostgreSQL 15 runs verbatim;
// its expectation came from PostgreSQL (regen.py; now() and $N are replaced by literals there)
// and tests/integration/test_sql_postgres.py compares mqbase with PostgreSQL on it.
//
// ## Running
//
// The cases of a file run in order on one Engine over a data directory of their own, built
// from the data set when the file's first case runs: a file's statements (ddl.test) change
// what its later cases see. When ctest runs one case alone, the cases before it in its file
// run first, their answers unchecked. now() is kDatasetNowNs (2024-01-02 12:00:00 UTC); the
// session time zone is UTC.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "query/engine.h"
#include "sql_dataset.h"
#include "store/tables.h"

namespace mqbase::query::test {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Cases

enum class Kind { query, statement, error };

struct Case {
  std::string file;  // the file's stem: "select"
  std::string path;
  int line = 0;      // of the case's first line
  size_t index = 0;  // within its file
  Kind kind = Kind::query;
  std::string name;
  bool rowsort = false, contains = false, pg = false;
  std::vector<Value> params;
  std::string sql;
  std::string pg_sql;
  std::vector<std::string> expected;
  std::string parse_error;  // the file is malformed here: the case fails with this
};

std::string conformance_dir() {
  if (const char* env = std::getenv("MQBASE_CONFORMANCE_DIR")) return env;
  return MQBASE_CONFORMANCE_DIR;
}

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

// "1, 'a', 2.5, NULL, true" -> values; false with *error when unreadable.
bool parse_params(std::string_view text, std::vector<Value>& out, std::string* error) {
  size_t p = 0;
  auto skip_space = [&] {
    while (p < text.size() && (text[p] == ' ' || text[p] == '\t')) ++p;
  };
  while (true) {
    skip_space();
    if (p >= text.size()) break;
    if (text[p] == '\'') {
      std::string s;
      ++p;
      while (true) {
        if (p >= text.size()) {
          *error = "unterminated string in params";
          return false;
        }
        if (text[p] == '\'') {
          if (p + 1 < text.size() && text[p + 1] == '\'') {
            s += '\'';
            p += 2;
            continue;
          }
          ++p;
          break;
        }
        s += text[p++];
      }
      out.push_back(Value::of_text(s));
    } else {
      size_t e = text.find(',', p);
      std::string token = trim(text.substr(p, e == std::string_view::npos ? std::string_view::npos : e - p));
      p = e == std::string_view::npos ? text.size() : e;
      std::string lower = token;
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
      if (lower == "null") out.push_back(Value::make_null());
      else if (lower == "true" || lower == "false") out.push_back(Value::of_bool(lower == "true"));
      else {
        int64_t i = 0;
        auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), i);
        if (ec == std::errc() && end == token.data() + token.size()) {
          out.push_back(Value::of_int(i));
        } else {
          char* stop = nullptr;
          double d = std::strtod(token.c_str(), &stop);
          if (token.empty() || *stop != '\0') {
            *error = "unreadable param '" + token + "'";
            return false;
          }
          out.push_back(Value::of_float(d));
        }
      }
    }
    skip_space();
    if (p >= text.size()) break;
    if (text[p] != ',') {
      *error = "expected ',' in params";
      return false;
    }
    ++p;
  }
  return true;
}

bool valid_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

std::vector<Case> parse_file(const fs::path& path) {
  std::vector<Case> cases;
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    lines.push_back(l);
  }
  const std::string stem = path.stem().string();
  std::set<std::string> names;
  size_t i = 0;
  while (i < lines.size()) {
    const std::string& l = lines[i];
    if (trim(l).empty() || l[0] == '#') {
      ++i;
      continue;
    }
    Case c;
    c.file = stem;
    c.path = path.string();
    c.line = static_cast<int>(i + 1);
    c.index = cases.size();
    std::istringstream header(l);
    std::string word;
    header >> word;
    if (word == "query") c.kind = Kind::query;
    else if (word == "statement") c.kind = Kind::statement;
    else if (word == "error") c.kind = Kind::error;
    else c.parse_error = "expected query, statement or error, found '" + word + "'";
    header >> c.name;
    for (std::string flag; header >> flag;) {
      if (flag == "rowsort") c.rowsort = true;
      else if (flag == "contains") c.contains = true;
      else if (flag == "pg") c.pg = true;
      else c.parse_error = "unknown flag '" + flag + "'";
    }
    if (c.parse_error.empty() && !valid_name(c.name)) c.parse_error = "a case name is [A-Za-z0-9_]+, not '" + c.name + "'";
    if (c.parse_error.empty() && !names.insert(c.name).second) c.parse_error = "case name '" + c.name + "' appears twice";
    ++i;
    if (i < lines.size() && lines[i].starts_with("params:")) {
      std::string error;
      if (!parse_params(std::string_view(lines[i]).substr(7), c.params, &error) && c.parse_error.empty()) c.parse_error = error;
      ++i;
    }
    // SQL, then the optional ----pg block, then ----, then the expectation up to a blank line.
    std::string* into = &c.sql;
    bool separator = false;
    while (i < lines.size() && !trim(lines[i]).empty()) {
      if (lines[i] == "----pg") {
        into = &c.pg_sql;
      } else if (lines[i] == "----") {
        separator = true;
        ++i;
        break;
      } else {
        if (!into->empty()) *into += '\n';
        *into += lines[i];
      }
      ++i;
    }
    if (!separator && c.parse_error.empty()) c.parse_error = "no '----' line after the SQL";
    if (c.sql.empty() && c.parse_error.empty()) c.parse_error = "no SQL";
    while (i < lines.size() && !lines[i].empty()) c.expected.push_back(lines[i++]);
    if (c.expected.empty() && c.parse_error.empty()) c.parse_error = "no expectation";
    cases.push_back(std::move(c));
  }
  return cases;
}

std::vector<Case> load_cases() {
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(conformance_dir(), ec))
    if (e.path().extension() == ".test") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<Case> all;
  for (const fs::path& f : files) {
    std::vector<Case> cases = parse_file(f);
    all.insert(all.end(), cases.begin(), cases.end());
  }
  if (all.empty()) {
    Case c;
    c.file = "none";
    c.name = "found";
    c.parse_error = "no .test files in " + conformance_dir();
    all.push_back(c);
  }
  return all;
}

const std::vector<Case>& all_cases() {
  static const std::vector<Case> cases = load_cases();
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Rendering answers in the file's form

std::string_view short_type(Type t) {
  switch (t) {
    case Type::boolean: return "bool";
    case Type::int64: return "int8";
    case Type::float64: return "float8";
    case Type::text: return "text";
    case Type::timestamp: return "timestamptz";
    case Type::interval: return "interval";
    case Type::json: return "json";
    case Type::null: break;
  }
  return "unknown";
}

std::string format_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[40];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, end);
}

// PostgreSQL's default interval style for an interval of ns (no months): whole days apart.
std::string format_interval(int64_t ns) {
  constexpr int64_t kSecond = 1'000'000'000LL, kDayNs = 86'400 * kSecond;
  int64_t days = ns / kDayNs, rest = ns % kDayNs;
  std::string out;
  if (days != 0) out = std::to_string(days) + (days == 1 ? " day" : " days");
  if (rest != 0 || days == 0) {
    if (!out.empty()) out += ' ';
    if (rest < 0) out += '-';
    else if (days < 0) out += '+';
    int64_t a = rest < 0 ? -rest : rest;
    int64_t secs = a / kSecond, frac = a % kSecond;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", static_cast<long long>(secs / 3600),
                  static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
    out += buf;
    if (frac != 0) {
      std::snprintf(buf, sizeof buf, ".%09lld", static_cast<long long>(frac));
      std::string digits = buf;
      while (digits.back() == '0') digits.pop_back();
      out += digits;
    }
  }
  return out;
}

std::string format_text(const std::string& s) {
  if (s.empty()) return "(empty)";
  std::string out;
  for (char c : s) {
    if (c == '\t') out += "\\t";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string render_cell(const Vector& v, size_t row) {
  if (v.is_null(row)) return "NULL";
  size_t k = v.at(row);
  switch (v.type) {
    case Type::boolean: return v.i[k] ? "t" : "f";
    case Type::int64: return std::to_string(v.i[k]);
    case Type::float64: return format_float(v.f[k]);
    case Type::timestamp: return format_timestamp(v.i[k]);
    case Type::interval: return format_interval(v.i[k]);
    case Type::text:
    case Type::json: return format_text(v.s[k]);
    case Type::null: break;
  }
  return "NULL";
}

class RenderSink : public ResultSink {
 public:
  std::vector<ColumnInfo> columns;
  std::vector<std::vector<std::string>> cells;  // the rows, rendered
  std::vector<std::string> problems;  // the engine broke the sink's contract
  int begins = 0;

  void begin(const std::vector<ColumnInfo>& cols) override {
    ++begins;
    columns = cols;
  }
  bool rows_chunk(const Chunk& chunk) {
    if (chunk.columns.size() != columns.size()) {
      problems.push_back("a chunk has " + std::to_string(chunk.columns.size()) + " columns, begin() said " +
                         std::to_string(columns.size()));
      return false;
    }
    for (size_t c = 0; c < chunk.columns.size(); ++c) {
      const Vector& v = chunk.columns[c];
      if (v.constant) problems.push_back("column " + std::to_string(c + 1) + " came as a constant vector");
      if (!v.constant && v.size != chunk.rows) problems.push_back("column " + std::to_string(c + 1) + " has " + std::to_string(v.size) + " rows, the chunk " + std::to_string(chunk.rows));
      if (v.type != columns[c].type && v.type != Type::null)
        problems.push_back("column " + std::to_string(c + 1) + " is " + std::string(short_type(v.type)) + ", begin() said " +
                           std::string(short_type(columns[c].type)));
    }
    if (!problems.empty()) return false;
    for (size_t r = 0; r < chunk.rows; ++r) {
      std::vector<std::string> row;
      for (const Vector& v : chunk.columns) row.push_back(render_cell(v, r));
      cells.push_back(std::move(row));
    }
    return true;
  }
  bool rows(const Chunk& chunk) override { return rows_chunk(chunk); }

  std::string header() const {
    std::string out;
    for (size_t c = 0; c < columns.size(); ++c) {
      if (c) out += '\t';
      out += columns[c].name + ":" + std::string(short_type(columns[c].type));
    }
    return out;
  }
};

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  size_t p = 0;
  while (true) {
    size_t t = line.find('\t', p);
    out.push_back(line.substr(p, t == std::string::npos ? std::string::npos : t - p));
    if (t == std::string::npos) break;
    p = t + 1;
  }
  return out;
}

std::string join_tabs(const std::vector<std::string>& cells) {
  std::string out;
  for (size_t c = 0; c < cells.size(); ++c) {
    if (c) out += '\t';
    out += cells[c];
  }
  return out;
}

bool parse_float(const std::string& s, double* out) {
  if (s == "NaN") *out = NAN;
  else if (s == "Infinity") *out = INFINITY;
  else if (s == "-Infinity") *out = -INFINITY;
  else {
    char* end = nullptr;
    *out = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') return false;
  }
  return true;
}

std::string round6(double d) {
  if (std::isnan(d) || std::isinf(d)) return format_float(d);
  if (d == 0) return "0";  // and -0
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.6g", d);
  return buf;
}

bool floats_equal(const std::string& expected, const std::string& actual) {
  if (expected == actual) return true;
  double e, a;
  if (!parse_float(expected, &e) || !parse_float(actual, &a)) return false;
  if (std::isnan(e) || std::isnan(a)) return std::isnan(e) && std::isnan(a);
  if (std::isinf(e) || std::isinf(a)) return e == a;
  if (round6(e) == round6(a)) return true;
  double diff = std::fabs(e - a);
  return diff <= 1e-6 * std::max(std::fabs(e), std::fabs(a)) || diff < 1e-12;
}

// A row with its float8 cells rounded and the columns the file leaves open ('*') left out: the
// key rowsort sorts by.
std::string sort_key(const std::vector<std::string>& cells, const std::vector<bool>& is_float, const std::set<size_t>& wild) {
  std::string key;
  for (size_t c = 0; c < cells.size(); ++c) {
    if (c) key += '\t';
    double d;
    if (wild.count(c)) continue;
    if (c < is_float.size() && is_float[c] && parse_float(cells[c], &d)) key += round6(d);
    else key += cells[c];
  }
  return key;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The answer as the file would write it (for failure messages).
std::string rendered(const RenderSink& sink) {
  std::string out = sink.header() + "\n";
  for (auto& row : sink.cells) out += join_tabs(row) + "\n";
  return out;
}

// "" when the answer matches the case, else what differs.
std::string compare_rows(const Case& c, const RenderSink& sink) {
  if (!sink.problems.empty()) return "the result sink saw: " + sink.problems.front();
  if (c.contains) {
    std::string all = lower(rendered(sink));
    std::string missing;
    for (const std::string& want : c.expected)
      if (all.find(lower(want)) == std::string::npos) missing += "  '" + want + "'\n";
    return missing.empty() ? "" : "the answer lacks:\n" + missing;
  }
  // Header.
  std::vector<std::string> want_header = split_tabs(c.expected[0]);
  if (want_header.size() != sink.columns.size())
    return "expected " + std::to_string(want_header.size()) + " columns, got " + std::to_string(sink.columns.size());
  std::vector<bool> is_float;
  for (size_t k = 0; k < want_header.size(); ++k) {
    std::string name = want_header[k], type;
    size_t colon = name.rfind(':');
    if (colon != std::string::npos) {
      type = name.substr(colon + 1);
      name = name.substr(0, colon);
    }
    if (name != sink.columns[k].name) return "column " + std::to_string(k + 1) + " is named '" + sink.columns[k].name + "', expected '" + name + "'";
    if (!type.empty() && type != short_type(sink.columns[k].type))
      return "column " + std::to_string(k + 1) + " ('" + name + "') is " + std::string(short_type(sink.columns[k].type)) + ", expected " + type;
    is_float.push_back(sink.columns[k].type == Type::float64);
  }
  // Rows.
  std::vector<std::vector<std::string>> want;
  for (size_t r = 1; r < c.expected.size(); ++r) want.push_back(split_tabs(c.expected[r]));
  std::vector<std::vector<std::string>> got = sink.cells;
  if (want.size() != got.size())
    return "expected " + std::to_string(want.size()) + " rows, got " + std::to_string(got.size());
  if (c.rowsort) {
    std::set<size_t> wild;
    for (auto& row : want)
      for (size_t k = 0; k < row.size(); ++k)
        if (row[k] == "*") wild.insert(k);
    auto by_key = [&](const std::vector<std::string>& a, const std::vector<std::string>& b) {
      return sort_key(a, is_float, wild) < sort_key(b, is_float, wild);
    };
    std::sort(want.begin(), want.end(), by_key);
    std::sort(got.begin(), got.end(), by_key);
  }
  for (size_t r = 0; r < want.size(); ++r) {
    if (want[r].size() != got[r].size())
      return "row " + std::to_string(r + 1) + " has " + std::to_string(want[r].size()) + " cells in the file";
    for (size_t k = 0; k < want[r].size(); ++k) {
      bool same = want[r][k] == "*" || (is_float[k] ? floats_equal(want[r][k], got[r][k]) : want[r][k] == got[r][k]);
      if (!same)
        return "row " + std::to_string(r + 1) + (c.rowsort ? " (sorted)" : "") + ", column '" + sink.columns[k].name +
               "': expected '" + want[r][k] + "', got '" + got[r][k] + "'";
    }
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
// One data directory and engine per file

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/mqbase-sql-XXXXXX";
    char* p = ::mkdtemp(tmpl);
    if (!p) throw std::runtime_error("mkdtemp failed");
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct FileState {
  TempDir dir;
  std::unique_ptr<DatasetStore> data;
  std::unique_ptr<Engine> engine;
  size_t next = 0;  // the index of the file's next case to run

  FileState() {
    data = std::make_unique<DatasetStore>(dir.path() + "/data");
    engine = std::make_unique<Engine>(&data->tables(), nullptr);
  }
  ~FileState() {
    engine.reset();
    data.reset();
  }
};

std::map<std::string, std::unique_ptr<FileState>>& file_states() {
  static std::map<std::string, std::unique_ptr<FileState>> states;
  return states;
}

// Engines and stores go before static destruction (and before the leak check).
class CloseStates : public ::testing::Environment {
 public:
  void TearDown() override { file_states().clear(); }
};
const auto* const kCloseStates = ::testing::AddGlobalTestEnvironment(new CloseStates);

QueryStatus run(FileState& state, const Case& c, RenderSink& sink) {
  QueryOptions options;
  options.params = c.params;
  options.now_ns = kDatasetNowNs;
  options.tz = "UTC";
  return state.engine->execute(c.sql, options, sink);
}

// The state of c's file with every case before c run.
FileState& state_for(const Case& c) {
  auto& states = file_states();
  auto it = states.find(c.file);
  if (it != states.end() && it->second->next > c.index) {  // run again (--gtest_repeat): start over
    states.erase(it);
    it = states.end();
  }
  if (it == states.end()) it = states.emplace(c.file, std::make_unique<FileState>()).first;
  FileState& state = *it->second;
  for (const Case& before : all_cases()) {
    if (before.file != c.file || before.index < state.next || before.index >= c.index) continue;
    RenderSink ignored;
    run(state, before, ignored);
  }
  state.next = c.index;
  return state;
}

std::string describe(const QueryStatus& s) {
  return s.error + (s.position ? " @" + std::to_string(s.position) : "");
}

// What gtest prints for a failing case's parameter.
void PrintTo(const Case& c, std::ostream* os) { *os << c.file << ".test:" << c.line; }

class Conformance : public ::testing::TestWithParam<Case> {};

TEST_P(Conformance, Case) {
  const Case& c = GetParam();
  SCOPED_TRACE(c.path + ":" + std::to_string(c.line) + ": " + c.name);
  ASSERT_EQ(c.parse_error, "") << "the case is malformed";
  FileState& state = state_for(c);
  RenderSink sink;
  QueryStatus status = run(state, c, sink);
  state.next = c.index + 1;
  const std::string query = "\n--- query:\n" + c.sql + "\n";
  switch (c.kind) {
    case Kind::error: {
      ASSERT_FALSE(status.ok) << "expected the error '" << c.expected[0] << "', the statement succeeded ("
                              << status.tag << ")" << query << "--- answer:\n" << rendered(sink);
      EXPECT_EQ(describe(status), c.expected[0]) << query;
      break;
    }
    case Kind::statement: {
      ASSERT_TRUE(status.ok) << describe(status) << query;
      EXPECT_EQ(status.tag, c.expected[0]) << query;
      break;
    }
    case Kind::query: {
      ASSERT_TRUE(status.ok) << describe(status) << query;
      ASSERT_TRUE(status.has_rows) << "the statement returned no rows (" << status.tag << ")" << query;
      EXPECT_EQ(sink.begins, 1) << "begin() must be called once" << query;
      std::string diff = compare_rows(c, sink);
      EXPECT_EQ(diff, "") << query << "--- expected:\n" << [&] {
        std::string e;
        for (auto& l : c.expected) e += l + "\n";
        return e;
      }() << "--- got:\n" << rendered(sink);
      break;
    }
  }
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) { return info.param.file + "_" + info.param.name; }

INSTANTIATE_TEST_SUITE_P(Sql, Conformance, ::testing::ValuesIn(all_cases()), case_name);

// ---------------------------------------------------------------------------------------------
// The table itself and the data set

TEST(ConformanceTable, HasAtLeast200WellFormedCases) {
  size_t n = 0;
  std::set<std::string> files;
  for (const Case& c : all_cases()) {
    EXPECT_EQ(c.parse_error, "") << c.path << ":" << c.line;
    ++n;
    files.insert(c.file);
  }
  EXPECT_GE(n, 200u);
  EXPECT_GE(files.size(), 2u);
}

TEST(ConformanceTable, RendersLikePostgres) {
  EXPECT_EQ(format_interval(0), "00:00:00");
  EXPECT_EQ(format_interval(5400LL * 1'000'000'000), "01:30:00");
  EXPECT_EQ(format_interval(-1800LL * 1'000'000'000), "-00:30:00");
  EXPECT_EQ(format_interval(86'400LL * 1'000'000'000), "1 day");
  EXPECT_EQ(format_interval(90'000LL * 1'000'000'000), "1 day 01:00:00");
  EXPECT_EQ(format_interval(-90'000LL * 1'000'000'000), "-1 days -01:00:00");
  EXPECT_EQ(format_interval(500'000'000), "00:00:00.5");
  EXPECT_EQ(format_timestamp(1'704'067'200LL * 1'000'000'000), "2024-01-01 00:00:00+00");
  EXPECT_EQ(format_timestamp(1'704'153'599'500'000'000LL), "2024-01-01 23:59:59.5+00");
  EXPECT_EQ(format_timestamp(-1'000'000'000), "1969-12-31 23:59:59+00");
  EXPECT_EQ(format_float(21.5), "21.5");
  EXPECT_EQ(format_float(22), "22");
  EXPECT_EQ(format_float(1e-5), "1e-05");
  EXPECT_TRUE(floats_equal("21.3333", "21.333333333333332"));
  EXPECT_TRUE(floats_equal("0", "1e-15"));
  EXPECT_FALSE(floats_equal("21.3334", "21.333333333333332"));
  std::vector<Value> params;
  std::string error;
  ASSERT_TRUE(parse_params(" 1, 'it''s', 2.5, NULL, true", params, &error)) << error;
  ASSERT_EQ(params.size(), 5u);
  EXPECT_EQ(params[0], Value::of_int(1));
  EXPECT_EQ(params[1], Value::of_text("it's"));
  EXPECT_EQ(params[2], Value::of_float(2.5));
  EXPECT_TRUE(params[3].null);
  EXPECT_EQ(params[4], Value::of_bool(true));
}

// Writes the data set for PostgreSQL (dataset.sql) and for a running server (dataset.json)
// into $MQBASE_SQL_DATASET_DUMP when set (regen.py and test_sql_postgres.py run this test);
// always checks that the data set is the same on every build.
TEST(SqlDataset, IsFixedAndDumps) {
  const std::vector<DatasetTable>& data = sql_dataset();
  ASSERT_EQ(data.size(), 3u);
  EXPECT_EQ(data[0].rows.size(), 471u);
  EXPECT_EQ(data[1].rows.size(), 126u);
  EXPECT_EQ(data[2].rows.size(), 0u);
  std::string sql = postgres_sql();
  EXPECT_EQ(sql, postgres_sql());
  // A fingerprint of the rows: a change to the data set must be deliberate (the expectations
  // of every .test file depend on it); update it together with them (regen.py).
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char ch : sql) h = (h ^ ch) * 1099511628211ULL;
  EXPECT_EQ(h, 14585269781619766103ULL) << "postgres_sql() fingerprint";
  if (const char* dir = std::getenv("MQBASE_SQL_DATASET_DUMP")) {
    std::ofstream(std::string(dir) + "/dataset.sql") << sql;
    std::ofstream(std::string(dir) + "/dataset.json") << dataset_json();
  }
}

// The store gives back exactly the data set's rows, from every place rows live: block files
// (the checkpoint), memory, and a series' overflow (the late row).
TEST(SqlDataset, TheStoreHoldsEveryRow) {
  TempDir dir;
  DatasetStore store(dir.path() + "/data");
  EXPECT_GE(store.tables().stats().flushes, 1u);
  EXPECT_GE(store.tables().stats().late_rows, 1u);
  for (const DatasetTable& t : sql_dataset()) {
    auto schema = store.tables().schema(t.schema.name);
    ASSERT_TRUE(schema) << t.schema.name;
    std::multiset<std::string> want, got;
    const int time_index = schema->time_index();
    const std::vector<int> tags = schema->tag_indexes(), fields = schema->field_indexes();
    for (const auto& row : t.rows) {
      std::string line = std::to_string(row[time_index].i);
      for (int c : tags) line += "|" + row[c].s;
      for (int c : fields) line += "|" + (row[c].null ? std::string("NULL") : postgres_literal(row[c]));
      want.insert(line);
    }
    std::string error;
    ASSERT_TRUE(store.tables().scan(t.schema.name, {}, [&](const std::vector<std::string>& tag_values, const store::tables::SeriesRows& rows) {
      for (size_t r = 0; r < rows.rows(); ++r) {
        std::string line = std::to_string(rows.times[r]);
        for (auto& v : tag_values) line += "|" + v;
        for (const auto& f : rows.fields) {
          line += "|";
          if (!f.valid[r]) {
            line += "NULL";
            continue;
          }
          Value v;
          switch (f.type) {
            case store::tables::ColumnType::float64: v = Value::of_float(f.f[r]); break;
            case store::tables::ColumnType::int64: v = Value::of_int(f.i[r]); break;
            case store::tables::ColumnType::boolean: v = Value::of_bool(f.i[r] != 0); break;
            default: v = Value::of_text(f.s[r]); break;
          }
          line += postgres_literal(v);
        }
        got.insert(line);
      }
    }, &error)) << error;
    EXPECT_EQ(got, want) << t.schema.name;
  }
}

}  // namespace
}  // namespace mqbase::query::test
