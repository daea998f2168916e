#include "query/nesting.h"

#include <pg_query.h>

#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

#include "store/coding.h"

namespace mqbase::query {

namespace {

// The protobuf wire format of libpg_query's ScanResult (pg_query.proto): field 2 is each
// token, a message of start (1), end (2), token (4) and keyword_kind (5), all varints (fields
// at zero are left out). Varints as the store's records have them (store/coding.h).
bool skip(std::string_view& in, unsigned wire) {
  uint64_t n;
  switch (wire) {
    case 0: return store::get_varint64(in, n);
    case 1: n = 8; break;
    case 2:
      if (!store::get_varint64(in, n)) return false;
      break;
    case 5: n = 4; break;
    default: return false;
  }
  if (n > in.size()) return false;
  in.remove_prefix(n);
  return true;
}

struct Token {
  uint32_t start = 0, end = 0;
  bool keyword = false;
};

bool tokens_of(std::string_view in, std::vector<Token>& out) {
  while (!in.empty()) {
    uint64_t key, len;
    if (!store::get_varint64(in, key)) return false;
    if ((key >> 3) != 2 || (key & 7) != 2) {
      if (!skip(in, key & 7)) return false;
      continue;
    }
    if (!store::get_varint64(in, len) || len > in.size()) return false;
    std::string_view t = in.substr(0, len);
    in.remove_prefix(len);
    Token tok;
    while (!t.empty()) {
      uint64_t k, v;
      if (!store::get_varint64(t, k)) return false;
      if ((k & 7) != 0) {
        if (!skip(t, k & 7)) return false;
        continue;
      }
      if (!store::get_varint64(t, v)) return false;
      switch (k >> 3) {
        case 1: tok.start = static_cast<uint32_t>(v); break;
        case 2: tok.end = static_cast<uint32_t>(v); break;
        case 5: tok.keyword = v != 0; break;
        default: break;
      }
    }
    out.push_back(tok);
  }
  return true;
}

bool is_one_of(std::string_view word, std::initializer_list<std::string_view> set) {
  for (std::string_view s : set)
    if (word == s) return true;
  return false;
}

}  // namespace

int nesting_past(std::string_view sql, int limit, size_t* token_count) {
  if (token_count) *token_count = sql.size();
  // Every level takes at least a character: a shorter text cannot pass the limit.
  if (sql.size() <= static_cast<size_t>(limit)) return -1;
  std::string text(sql);
  PgQueryScanResult scanned = pg_query_scan(text.c_str());
  std::vector<Token> tokens;
  bool ok = !scanned.error && tokens_of(std::string_view(scanned.pbuf.data, scanned.pbuf.len), tokens);
  pg_query_free_scan_result(scanned);
  if (!ok) return -1;
  if (token_count) *token_count = tokens.size();

  struct Level {
    char opened;         // '(' '[' or 'C' (CASE)
    int run = 0;         // operators since the last comma or clause keyword
    int set_ops = 0;     // UNION, INTERSECT, EXCEPT
  };
  std::vector<Level> levels{{'(', 0, 0}};
  int depth = 1;  // the sum over `levels` of 1 + run + set_ops, kept as they change
  auto recount = [&] {
    depth = 0;
    for (const Level& l : levels) depth += 1 + l.run + l.set_ops;
  };
  std::string word;
  for (const Token& t : tokens) {
    if (t.end <= t.start || t.end > sql.size()) continue;
    std::string_view s = sql.substr(t.start, t.end - t.start);
    Level& top = levels.back();
    if (t.keyword) {
      word.assign(s);
      for (char& c : word) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (word == "CASE") {
        levels.push_back({'C'});
        ++depth;
      } else if (word == "END") {
        if (levels.size() > 1 && levels.back().opened == 'C') levels.pop_back();
        recount();
      } else if (is_one_of(word, {"UNION", "INTERSECT", "EXCEPT"})) {
        ++top.set_ops;
        ++depth;
      } else if (is_one_of(word, {"AND", "OR", "SELECT", "FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT",
                                  "OFFSET", "WHEN", "THEN", "ELSE", "ON", "USING", "WITH", "AS", "BY", "WINDOW",
                                  "FETCH", "FOR", "INTO", "RETURNING", "VALUES", "SET"})) {
        depth -= top.run;
        top.run = 0;
      } else {
        ++top.run;  // IS, NOT, LIKE, BETWEEN, COLLATE, ...: may nest
        ++depth;
      }
    } else if (s == "(" || s == "[") {
      levels.push_back({s[0]});
      ++depth;
    } else if (s == ")" || s == "]") {
      char want = s == ")" ? '(' : '[';
      while (levels.size() > 1 && levels.back().opened != want) levels.pop_back();  // an unclosed CASE
      if (levels.size() > 1) levels.pop_back();
      recount();
    } else if (s == "," || s == ";") {
      depth -= top.run;
      top.run = 0;
    } else if (std::string_view("+-*/<>=~!@#%^&|`?:").find(s[0]) != std::string_view::npos) {
      ++top.run;  // an operator, "::" included
      ++depth;
    }
    if (depth > limit) return static_cast<int>(t.start);
  }
  return -1;
}

}  // namespace mqbase::query
