// A ResultSink that keeps the answer as text for the query unit tests: the column names, then
// a line per row, cells separated and ended by '|' (NULL as NULL, doubles as %.9g).
#pragma once
#include <cstdio>
#include <string>
#include <vector>

#include "query/engine.h"

namespace mqbase::query::test {

class Text : public ResultSink {
 public:
  void begin(const std::vector<ColumnInfo>& cols) override {
    for (auto& c : cols) out += c.name + "|";
    out += "\n";
  }
  bool rows(const Chunk& c) override {
    for (size_t r = 0; r < c.rows; ++r) {
      for (auto& v : c.columns) {
        Value x = v.get(r);
        if (x.null) out += "NULL";
        else if (x.type == Type::float64) {
          char b[40];
          std::snprintf(b, sizeof b, "%.9g", x.f);
          out += b;
        } else if (uses_ints(x.type)) out += std::to_string(x.i);
        else out += x.s;
        out += "|";
      }
      out += "\n";
    }
    return true;
  }
  std::string out;
};

}  // namespace mqbase::query::test
