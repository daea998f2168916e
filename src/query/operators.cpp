#include "query/operators.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <unordered_set>

namespace mqbase::query {

void ExecContext::check() const {
  if (cancel && cancel->load(std::memory_order_relaxed)) throw QueryError("canceling statement due to user request");
  if (std::chrono::steady_clock::now() > deadline)
    throw QueryError("canceling statement due to statement timeout (" + std::to_string(timeout.count()) + " ms)");
}

std::string ExecContext::over_memory_limit() const {
  return "query needs more than its memory limit of " +
         (memory_limit % (1 << 20) == 0 ? std::to_string(memory_limit >> 20) + " MiB"
                                         : std::to_string(memory_limit) + " bytes");
}

void ExecContext::charge(uint64_t bytes) {
  memory_used += bytes;
  if (memory_limit && memory_used > memory_limit)
    throw QueryError(over_memory_limit() +
                     " (ORDER BY, GROUP BY, DISTINCT, window functions and CTEs read twice hold rows in memory)");
}

uint64_t vector_bytes(const Vector& v) {
  if (v.type == Type::null) return 0;  // a NULL constant, or a place holder (whatever it kept)
  uint64_t b = v.valid.size() + v.i.size() * 8 + v.f.size() * 8;
  for (auto& s : v.s) b += 32 + s.size();
  return b;
}

uint64_t chunk_bytes(const Chunk& c) {
  uint64_t b = 0;
  for (auto& v : c.columns) b += vector_bytes(v);
  return b;
}

Vector slice(const Vector& v, size_t b, size_t e) {
  Vector out;
  out.clear(v.type);
  if (v.constant) {
    out = v;
  } else {
    if (!v.valid.empty()) out.valid.assign(v.valid.begin() + static_cast<long>(b), v.valid.begin() + static_cast<long>(e));
    if (uses_ints(v.type)) out.i.assign(v.i.begin() + static_cast<long>(b), v.i.begin() + static_cast<long>(e));
    else if (v.type == Type::float64) out.f.assign(v.f.begin() + static_cast<long>(b), v.f.begin() + static_cast<long>(e));
    else if (uses_strings(v.type)) out.s.assign(v.s.begin() + static_cast<long>(b), v.s.begin() + static_cast<long>(e));
  }
  out.size = e - b;
  return out;
}

Chunk slice(const Chunk& c, size_t from, size_t n) {
  Chunk out;
  out.rows = n;
  for (auto& v : c.columns) out.columns.push_back(slice(v, from, from + n));
  return out;
}

void append_row(Vector& to, const Vector& from, size_t r) {
  if (from.is_null(r)) {
    to.push_null();
    return;
  }
  size_t k = from.at(r);
  if (!to.valid.empty()) to.valid.push_back(1);
  if (uses_ints(to.type)) to.i.push_back(from.i[k]);
  else if (to.type == Type::float64) to.f.push_back(from.f[k]);
  else if (uses_strings(to.type)) to.s.push_back(from.s[k]);
  ++to.size;
}

void append_rows_moving(Vector& to, Vector& from, size_t lo, size_t hi) {
  if (hi <= lo) return;
  const auto b = static_cast<std::ptrdiff_t>(lo), e = static_cast<std::ptrdiff_t>(hi);
  if (!from.valid.empty() || !to.valid.empty()) {
    if (to.valid.empty()) to.valid.assign(to.size, 1);
    if (from.valid.empty()) to.valid.insert(to.valid.end(), hi - lo, 1);
    else to.valid.insert(to.valid.end(), from.valid.begin() + b, from.valid.begin() + e);
  }
  if (uses_ints(to.type)) to.i.insert(to.i.end(), from.i.begin() + b, from.i.begin() + e);
  else if (to.type == Type::float64) to.f.insert(to.f.end(), from.f.begin() + b, from.f.begin() + e);
  else if (uses_strings(to.type))
    to.s.insert(to.s.end(), std::make_move_iterator(from.s.begin() + b), std::make_move_iterator(from.s.begin() + e));
  to.size += hi - lo;
}

Chunk empty_like(const Chunk& c) {
  Chunk out;
  for (auto& v : c.columns) {
    Vector e;
    e.clear(v.type);
    out.columns.push_back(std::move(e));
  }
  return out;
}

int compare_cell(const Vector& a, size_t ra, const Vector& b, size_t rb) {
  size_t ka = a.at(ra), kb = b.at(rb);
  if (uses_ints(a.type)) return a.i[ka] < b.i[kb] ? -1 : a.i[ka] > b.i[kb];
  if (a.type == Type::float64) {
    double x = a.f[ka], y = b.f[kb];
    // PostgreSQL sorts NaN above every other number.
    bool nx = std::isnan(x), ny = std::isnan(y);
    if (nx || ny) return nx == ny ? 0 : nx ? 1 : -1;
    return x < y ? -1 : x > y;
  }
  if (uses_strings(a.type)) {
    int c = a.s[ka].compare(b.s[kb]);
    return c < 0 ? -1 : c > 0;
  }
  return 0;
}

namespace {

// A row's values on some columns as bytes: equal bytes, equal values (NULLs equal).
void key_bytes(const std::vector<const Vector*>& cols, size_t r, std::string& out) {
  out.clear();
  for (const Vector* v : cols) {
    if (v->is_null(r)) {
      out.push_back('\0');
      continue;
    }
    out.push_back('\1');
    size_t k = v->at(r);
    if (uses_ints(v->type)) out.append(reinterpret_cast<const char*>(&v->i[k]), 8);
    else if (v->type == Type::float64) {
      double d = v->f[k] == 0 ? 0.0 : v->f[k];  // -0 == 0
      out.append(reinterpret_cast<const char*>(&d), 8);
    } else if (uses_strings(v->type)) {
      uint32_t n = static_cast<uint32_t>(v->s[k].size());
      out.append(reinterpret_cast<const char*>(&n), 4).append(v->s[k]);
    }
  }
}

class Filter : public Operator {
 public:
  Filter(const Expr* p, ExecContext& ctx, Operator* next, std::vector<bool> live)
      : p_(p), ctx_(ctx), next_(next), live_(std::move(live)) {}
  void push(Chunk& c) override {
    if (!select_compare(*p_, c, ctx_.eval, sel_)) {
      Vector tmp;
      const Vector& v = eval_ref(*p_, c, ctx_.eval, tmp);
      select_true(v, c.rows, sel_);
      recycle(tmp);  // computed, never a column of c (which a scan may have lent)
    }
    if (sel_.empty()) return;
    if (sel_.size() != c.rows) {
      // A column only the condition read is not cut to the rows kept, but dropped to a place
      // holder (as the scan's unread columns): `velocity > 1` compacted velocity for nothing.
      // (Its vectors keep their storage: a scan may have lent them, to be given back.)
      for (size_t k = 0; k < live_.size() && k < c.columns.size(); ++k)
        if (Vector& v = c.columns[k]; !live_[k] && v.type != Type::null) {
          v.type = Type::null;
          v.constant = true;
          v.valid.clear();
        }
      take_rows(c, sel_);
    }
    next_->push(c);
  }
  void finish() override { next_->finish(); }
 private:
  const Expr* p_;
  ExecContext& ctx_;
  Operator* next_;
  std::vector<bool> live_;  // per input column: read after the filter (empty: all are)
  std::vector<uint32_t> sel_;
};

// A plain column that no other projection reads moves from the input chunk (an operator owns
// the chunk pushed to it) instead of being copied: the copies of wide text columns were a
// third of a query projecting a million rows of tags.
class Project : public Operator {
 public:
  Project(std::vector<const Expr*> e, ExecContext& ctx, Operator* next) : e_(std::move(e)), ctx_(ctx), next_(next) {
    std::map<int, int> reads;
    for (const Expr* x : e_) for_each_column(*x, [&](const Expr& c) { ++reads[c.column]; });
    for (const Expr* x : e_) moves_.push_back(x->kind == ExprKind::column && reads[x->column] == 1 ? x->column : -1);
  }
  void push(Chunk& c) override {
    Chunk out;
    out.rows = c.rows;
    out.columns.resize(e_.size());
    for (size_t k = 0; k < e_.size(); ++k)
      if (moves_[k] < 0) out.columns[k] = eval(*e_[k], c, ctx_.eval);
    for (size_t k = 0; k < e_.size(); ++k)
      if (moves_[k] >= 0) out.columns[k] = std::move(c.columns[static_cast<size_t>(moves_[k])]);
    next_->push(out);
  }
  void finish() override { next_->finish(); }
 private:
  std::vector<const Expr*> e_;
  std::vector<int> moves_;  // per projection: the input column it moves, or -1
  ExecContext& ctx_;
  Operator* next_;
};

class Limit : public Operator {
 public:
  Limit(int64_t limit, int64_t offset, ExecContext& ctx, Operator* next)
      : left_(limit), skip_(offset), ctx_(ctx), next_(next) {}
  void push(Chunk& c) override {
    if (ctx_.stop) return;
    size_t from = 0, n = c.rows;
    if (skip_ > 0) {
      size_t s = std::min<size_t>(n, static_cast<size_t>(skip_));
      skip_ -= static_cast<int64_t>(s);
      from = s;
      n -= s;
    }
    if (left_ >= 0 && n > static_cast<size_t>(left_)) n = static_cast<size_t>(left_);
    if (n) {
      if (from == 0 && n == c.rows) next_->push(c);
      else {
        Chunk s = slice(c, from, n);
        next_->push(s);
      }
    }
    if (left_ >= 0) {
      left_ -= static_cast<int64_t>(n);
      if (left_ == 0) ctx_.stop = true;
    }
  }
  void finish() override { next_->finish(); }
 private:
  int64_t left_, skip_;
  ExecContext& ctx_;
  Operator* next_;
};

// Rows of held chunks, compared by sort keys.
struct RowRef {
  uint32_t chunk, row;
};

class Sort : public Operator {
 public:
  Sort(std::vector<SortKey> keys, int64_t limit, ExecContext& ctx, Operator* next)
      : keys_(std::move(keys)), limit_(limit), ctx_(ctx), next_(next) {}
  void push(Chunk& c) override {
    for (auto& v : c.columns) v.expand();
    const uint64_t bytes = chunk_bytes(c) + c.rows * sizeof(RowRef);
    ctx_.charge(bytes);
    held_ += bytes;
    uint32_t id = static_cast<uint32_t>(chunks_.size());
    chunks_.push_back(std::move(c));
    for (uint32_t r = 0; r < chunks_.back().rows; ++r) refs_.push_back({id, r});
    // A top-N keeps no more than it needs: compact when it holds four times that (and at
    // least two chunks), so that its memory follows the LIMIT, not the input.
    if (limit_ >= 0 && refs_.size() > std::max<size_t>(2 * kChunkRows, 4 * static_cast<size_t>(limit_))) compact();
  }
  void finish() override {
    order(limit_);
    size_t n = limit_ >= 0 ? std::min(refs_.size(), static_cast<size_t>(limit_)) : refs_.size();
    if (chunks_.empty()) {
      next_->finish();
      return;
    }
    for (size_t at = 0; at < n && !ctx_.stop; at += kChunkRows) {
      ctx_.check();
      Chunk out = empty_like(chunks_[0]);
      size_t m = std::min(kChunkRows, n - at);
      for (size_t k = 0; k < out.columns.size(); ++k) {
        out.columns[k].reserve(m);
        for (size_t j = at; j < at + m; ++j) append_row(out.columns[k], chunks_[refs_[j].chunk].columns[k], refs_[j].row);
      }
      out.rows = m;
      next_->push(out);
    }
    next_->finish();
  }

 private:
  bool less(const RowRef& a, const RowRef& b) const {
    for (const SortKey& k : keys_) {
      const Vector& va = chunks_[a.chunk].columns[static_cast<size_t>(k.column)];
      const Vector& vb = chunks_[b.chunk].columns[static_cast<size_t>(k.column)];
      bool na = va.is_null(a.row), nb = vb.is_null(b.row);
      if (na || nb) {
        if (na == nb) continue;
        return na == k.nulls_first;
      }
      int c = compare_cell(va, a.row, vb, b.row);
      if (c) return k.desc ? c > 0 : c < 0;
    }
    return false;
  }
  void order(int64_t limit) {
    auto cmp = [this](const RowRef& a, const RowRef& b) { return less(a, b); };
    if (limit >= 0 && static_cast<size_t>(limit) < refs_.size()) {
      // Stable top-N: partial order, ties broken by arrival.
      auto cmp2 = [&](const RowRef& a, const RowRef& b) {
        if (less(a, b)) return true;
        if (less(b, a)) return false;
        return a.chunk != b.chunk ? a.chunk < b.chunk : a.row < b.row;
      };
      std::partial_sort(refs_.begin(), refs_.begin() + limit, refs_.end(), cmp2);
      refs_.resize(static_cast<size_t>(limit));
    } else {
      std::stable_sort(refs_.begin(), refs_.end(), cmp);
    }
  }
  void compact() {
    order(limit_);
    // Rebuild the held chunks from the surviving rows only.
    Chunk kept = empty_like(chunks_[0]);
    for (auto& r : refs_)
      for (size_t k = 0; k < kept.columns.size(); ++k) append_row(kept.columns[k], chunks_[r.chunk].columns[k], r.row);
    kept.rows = refs_.size();
    ctx_.memory_used -= std::min(ctx_.memory_used, held_);  // what this sort held, not the others'
    held_ = chunk_bytes(kept) + kept.rows * sizeof(RowRef);
    ctx_.charge(held_);
    chunks_.clear();
    chunks_.push_back(std::move(kept));
    refs_.clear();
    for (uint32_t r = 0; r < chunks_[0].rows; ++r) refs_.push_back({0, r});
  }

  std::vector<SortKey> keys_;
  int64_t limit_;
  uint64_t held_ = 0;  // bytes charged for chunks_ and refs_
  ExecContext& ctx_;
  Operator* next_;
  std::vector<Chunk> chunks_;
  std::vector<RowRef> refs_;
};

class DistinctOn : public Operator {
 public:
  DistinctOn(std::vector<int> cols, ExecContext& ctx, Operator* next) : cols_(std::move(cols)), ctx_(ctx), next_(next) {}
  void push(Chunk& c) override {
    std::vector<const Vector*> cols;
    for (int k : cols_) cols.push_back(&c.columns[static_cast<size_t>(k)]);
    sel_.clear();
    for (size_t r = 0; r < c.rows; ++r) {
      key_bytes(cols, r, key_);
      if (have_ && key_ == last_) continue;
      last_ = key_;
      have_ = true;
      sel_.push_back(static_cast<uint32_t>(r));
    }
    if (sel_.empty()) return;
    take_rows(c, sel_);
    next_->push(c);
  }
  void finish() override { next_->finish(); }
 private:
  std::vector<int> cols_;
  ExecContext& ctx_;
  Operator* next_;
  std::vector<uint32_t> sel_;
  std::string key_, last_;
  bool have_ = false;
};

class Distinct : public Operator {
 public:
  Distinct(std::vector<int> cols, ExecContext& ctx, Operator* next) : cols_(std::move(cols)), ctx_(ctx), next_(next) {}
  void push(Chunk& c) override {
    std::vector<const Vector*> cols;
    for (int k : cols_) cols.push_back(&c.columns[static_cast<size_t>(k)]);
    sel_.clear();
    for (size_t r = 0; r < c.rows; ++r) {
      key_bytes(cols, r, key_);
      if (!seen_.insert(key_).second) continue;
      ctx_.charge(key_.size() + 48);
      sel_.push_back(static_cast<uint32_t>(r));
    }
    if (sel_.empty()) return;
    take_rows(c, sel_);
    next_->push(c);
  }
  void finish() override { next_->finish(); }
 private:
  std::vector<int> cols_;
  ExecContext& ctx_;
  Operator* next_;
  std::vector<uint32_t> sel_;
  std::string key_;
  std::unordered_set<std::string> seen_;
};

// ---- aggregation ----------------------------------------------------------------------------
// What few aggregates need, made on their first use: a group of count, sum or avg does without.
struct AggRare {
  std::string best_s;                 // min, max, first, last of text
  std::vector<double> values;         // percentile
  std::unordered_set<std::string> seen;  // DISTINCT
};

// One aggregate of one group. Compact (80 bytes), as a query may make millions of groups: the
// best value (min, max, first, last, bool_and/or) is kept as its type and its number inline;
// text, and what percentiles and DISTINCT keep, go to `rare`.
struct AggState {
  int64_t count = 0;        // values taken (non-NULL, passing the filter; rows for count(*))
  double fsum = 0;
  int64_t isum = 0;
  double mean = 0, m2 = 0;  // Welford's running variance
  int64_t best_time = 0;    // first, last: the time of `best`
  int64_t best_i = 0;       // the best value's number (uses_ints types) ...
  double best_f = 0;        // ... or float64; text in rare->best_s
  Type best_type = Type::null;
  bool best_null = false;   // first, last: the value at that time may be NULL
  bool overflow = false;
  bool has = false;         // `best` holds a value
  std::unique_ptr<AggRare> rare;

  AggRare& extra() {
    if (!rare) rare = std::make_unique<AggRare>();
    return *rare;
  }
  void set_best(const Value& v) {
    best_type = v.type;
    best_null = v.null;
    best_i = v.i;
    best_f = v.f;
    if (uses_strings(v.type) && !v.null) extra().best_s = v.s;
  }
  Value best() const {
    Value v;
    v.type = best_type;
    v.null = best_null;
    v.i = best_i;
    v.f = best_f;
    if (uses_strings(best_type) && !best_null) v.s = rare->best_s;
    return v;
  }
};

static_assert(sizeof(AggState) <= 80, "AggState is per group and aggregate: keep it small");

// The states of an Aggregate, by index, in blocks of 256 that never move: a new group's states
// are added without moving the others (a vector's growth moved every state), and without an
// allocation per few groups (std::deque's blocks are 512 bytes: six states).
class AggStates {
 public:
  AggState& operator[](size_t i) { return blocks_[i >> kShift][i & (kBlock - 1)]; }
  size_t size() const { return size_; }
  // Growing adds empty states; shrinking empties the states past n (kept for reuse).
  void resize(size_t n) {
    for (size_t i = n; i < size_; ++i) (*this)[i] = AggState{};
    while (blocks_.size() << kShift < n) blocks_.push_back(std::make_unique<AggState[]>(kBlock));
    size_ = n;
  }

 private:
  static constexpr size_t kShift = 8, kBlock = size_t{1} << kShift;
  std::vector<std::unique_ptr<AggState[]>> blocks_;
  size_t size_ = 0;
};

enum class AggFn : uint8_t { count, sum, avg, min, max, first, last, stddev_samp, stddev_pop, var_samp, var_pop,
                             percentile_cont, percentile_disc, bool_and, bool_or };

AggFn agg_fn(const std::string& n) {
  if (n == "count") return AggFn::count;
  if (n == "sum") return AggFn::sum;
  if (n == "avg" || n == "mean") return AggFn::avg;
  if (n == "min") return AggFn::min;
  if (n == "max") return AggFn::max;
  if (n == "first") return AggFn::first;
  if (n == "last") return AggFn::last;
  if (n == "stddev" || n == "stddev_samp") return AggFn::stddev_samp;
  if (n == "stddev_pop") return AggFn::stddev_pop;
  if (n == "variance" || n == "var_samp") return AggFn::var_samp;
  if (n == "var_pop") return AggFn::var_pop;
  if (n == "percentile_cont") return AggFn::percentile_cont;
  if (n == "percentile_disc") return AggFn::percentile_disc;
  if (n == "bool_and" || n == "every") return AggFn::bool_and;
  return AggFn::bool_or;
}

class Aggregate : public Operator, public SummaryConsumer {
 public:
  Aggregate(std::vector<const Expr*> keys, std::vector<AggSpec> aggs, ExecContext& ctx, Operator* next)
      : keys_(std::move(keys)), aggs_(std::move(aggs)), ctx_(ctx), next_(next) {
    for (auto& a : aggs_) fns_.push_back(agg_fn(a.fn));
    for (const Expr* k : keys_) {
      key_cols_.emplace_back();
      key_cols_.back().clear(k->type);
    }
    if (keys_.empty()) new_group();
  }
  SummarySpec summary;
  bool streaming = false;  // make_aggregate's promise: groups arrive one after another
  bool keyless() const { return keys_.empty(); }

  bool absorb(const std::vector<std::string>& tags, const store::tables::BlockMeta& meta) override {
    namespace tb = store::tables;
    for (size_t a = 0; a < aggs_.size(); ++a) {
      int f = summary.agg_fields[a];
      if (f < 0 || static_cast<size_t>(f) >= meta.fields.size()) continue;
      const tb::FieldStats& fs = meta.fields[static_cast<size_t>(f)];
      if (fs.type == tb::ColumnType::float64 && fs.doubles.nans && fns_[a] != AggFn::count) return false;
      if (fs.type == tb::ColumnType::int64 && fs.ints.sum_overflowed && (fns_[a] == AggFn::sum || fns_[a] == AggFn::avg))
        return false;
      if (fs.type != tb::ColumnType::float64 && fs.type != tb::ColumnType::int64) return false;
    }
    std::vector<Vector> kv;
    std::vector<const Vector*> kp;
    kv.reserve(summary.key_tags.size());
    for (int t : summary.key_tags) {
      size_t k = static_cast<size_t>(t);
      kv.push_back(Vector::make_constant(Value::of_text(k < tags.size() ? tags[k] : std::string()), 1));
    }
    for (auto& v : kv) kp.push_back(&v);
    uint32_t g = group_of(kp, 0);
    for (size_t a = 0; a < aggs_.size(); ++a) {
      AggState& st = state(g, a);
      int f = summary.agg_fields[a];
      if (f < 0) {  // count(*)
        st.count += meta.rows;
        continue;
      }
      if (static_cast<size_t>(f) >= meta.fields.size()) continue;  // a field added later: all NULL here
      const tb::FieldStats& fs = meta.fields[static_cast<size_t>(f)];
      if (!fs.count) continue;
      bool dbl = fs.type == tb::ColumnType::float64;
      switch (fns_[a]) {
        case AggFn::count: st.count += fs.count; break;
        case AggFn::sum:
        case AggFn::avg:
          if (dbl) st.fsum += fs.doubles.sum;
          else add_int(st, fs.ints.sum);
          st.count += fs.count;
          break;
        case AggFn::min:
          take_best(st, dbl ? Value::of_float(fs.doubles.min) : Value::of_int(fs.ints.min), true);
          st.count += fs.count;
          break;
        case AggFn::max:
          take_best(st, dbl ? Value::of_float(fs.doubles.max) : Value::of_int(fs.ints.max), false);
          st.count += fs.count;
          break;
        default: break;
      }
    }
    return true;
  }

  void push(Chunk& c) override {
    size_t rows = c.rows;
    std::vector<Vector> kv(keys_.size());  // the keys that are not columns of c (read in place)
    std::vector<const Vector*> kp;
    for (size_t k = 0; k < keys_.size(); ++k) kp.push_back(&eval_ref(*keys_[k], c, ctx_.eval, kv[k]));
    if (streaming) {
      push_streaming(c, kp);
    } else {
      // The chunk as runs of rows with equal keys, one group each: the whole chunk when the
      // keys are constant in it (every key a tag of one series, or no key at all). A series'
      // rows come in time order, so a key of tags and a time bucket changes once per bucket,
      // not per row.
      runs_.clear();
      run_starts(kp, rows);
      for (uint32_t r : run_starts_) runs_.push_back({r, group_of(kp, r)});
      accumulate(c);
    }
    for (Vector& v : kv) recycle(v);  // computed keys (time buckets): the next chunk's buffers
  }

  // Adds the chunk's rows to their groups' states, run by run (runs_).
  void accumulate(Chunk& c) {
    const size_t rows = c.rows;
    for (size_t a = 0; a < aggs_.size(); ++a) {
      const AggSpec& s = aggs_[a];
      Vector t1, t2, t3;  // the arguments when not columns of c, read in place
      const Vector* arg = s.arg ? &eval_ref(*s.arg, c, ctx_.eval, t1) : nullptr;
      const Vector* arg2 = s.arg2 ? &eval_ref(*s.arg2, c, ctx_.eval, t2) : nullptr;
      const Vector* filt = s.filter ? &eval_ref(*s.filter, c, ctx_.eval, t3) : nullptr;
      for (size_t k = 0; k < runs_.size(); ++k) {
        const size_t b = runs_[k].begin, e = k + 1 < runs_.size() ? runs_[k + 1].begin : rows;
        AggState& st = state(runs_[k].group, a);
        if (!filt && block(a, st, arg, b, e)) continue;
        for (size_t r = b; r < e; ++r) {
          if (filt && (filt->is_null(r) || !filt->i[filt->at(r)])) continue;
          update(a, st, arg, arg2, r);
        }
      }
      for (Vector* t : {&t1, &t2, &t3}) recycle(*t);
    }
  }

  void finish() override {
    if (streaming) {
      if (carried_) put_out(0, nullptr, SIZE_MAX);
      if (out_.rows) next_->push(out_);
      next_->finish();
      return;
    }
    size_t n = groups_;
    for (size_t at = 0; at < n && !ctx_.stop; at += kChunkRows) {
      ctx_.check();
      size_t m = std::min(kChunkRows, n - at);
      Chunk out;
      out.rows = m;
      for (size_t k = 0; k < keys_.size(); ++k) out.columns.push_back(slice(key_cols_[k], at, at + m));
      for (size_t a = 0; a < aggs_.size(); ++a) {
        Vector v;
        v.clear(aggs_[a].type);
        for (size_t g = at; g < at + m; ++g) v.push(final(a, state(static_cast<uint32_t>(g), a)));
        out.columns.push_back(std::move(v));
      }
      next_->push(out);
    }
    next_->finish();
  }

 private:
  AggState& state(uint32_t g, size_t a) { return states_[g * aggs_.size() + a]; }

  // Streaming: the chunk's groups numbered from 0 in the order they begin (0 is the group
  // carried over from the chunk before, when its first row continues it), each one run of runs_;
  // every group but the chunk's last is complete and put out, and the last is carried over
  // (its states to slot 0, its key to carried_key_).
  void push_streaming(Chunk& c, const std::vector<const Vector*>& kp) {
    const size_t rows = c.rows;
    if (!rows) return;
    bool continues = carried_ && same_as_carried(kp, 0);
    if (carried_ && !continues) {
      put_out(0, nullptr, SIZE_MAX);
      carried_ = false;
    }
    starts_.clear();  // per group of this chunk: the row it begins at (SIZE_MAX: carried over)
    starts_.push_back(continues ? SIZE_MAX : 0);
    runs_.clear();
    runs_.push_back({0, 0});
    run_starts(kp, rows);
    for (size_t k = 1; k < run_starts_.size(); ++k) {
      runs_.push_back({run_starts_[k], static_cast<uint32_t>(starts_.size())});
      starts_.push_back(run_starts_[k]);
    }
    // Slot 0 keeps the carried group's states when the chunk continues it; every other starts empty.
    states_.resize(aggs_.size());
    if (!continues) reset_states(0);
    states_.resize(starts_.size() * aggs_.size());
    accumulate(c);
    const uint32_t last = static_cast<uint32_t>(starts_.size() - 1);
    for (uint32_t g = 0; g < last; ++g) put_out(g, &kp, starts_[g]);
    // The last group goes on in the next chunk, or is put out by finish().
    if (starts_[last] != SIZE_MAX) {
      carried_key_.resize(kp.size());
      for (size_t k = 0; k < kp.size(); ++k) carried_key_[k] = kp[k]->get(starts_[last]);
    }
    if (last != 0)
      for (size_t a = 0; a < aggs_.size(); ++a) state(0, a) = std::move(state(last, a));
    states_.resize(aggs_.size());
    carried_ = true;
  }

  void reset_states(uint32_t g) {
    for (size_t a = 0; a < aggs_.size(); ++a) state(g, a) = AggState{};
  }

  // Row 0 of the chunk has the carried group's key (as same_keys compares).
  bool same_as_carried(const std::vector<const Vector*>& kp, size_t r) const {
    for (size_t k = 0; k < kp.size(); ++k) {
      const Vector* v = kp[k];
      const Value& c = carried_key_[k];
      bool null = v->is_null(r);
      if (null != c.null) return false;
      if (null) continue;
      size_t at = v->at(r);
      if (uses_ints(v->type)) {
        if (v->i[at] != c.i) return false;
      } else if (uses_strings(v->type)) {
        if (v->s[at] != c.s) return false;
      } else {
        return false;  // doubles and the rest: a new group (streaming keys are tags and times)
      }
    }
    return true;
  }

  // Puts out group `g` of the chunk: its key from row `r` of `kp`, or (r SIZE_MAX) the carried key.
  void put_out(uint32_t g, const std::vector<const Vector*>* kp, size_t r) {
    if (out_.columns.empty()) {
      for (const Expr* k : keys_) {
        Vector v;
        v.clear(k->type);
        out_.columns.push_back(std::move(v));
      }
      for (const AggSpec& a : aggs_) {
        Vector v;
        v.clear(a.type);
        out_.columns.push_back(std::move(v));
      }
      for (auto& v : out_.columns) v.reserve(kChunkRows);  // filled to kChunkRows, never moved
    }
    for (size_t k = 0; k < keys_.size(); ++k) {
      if (r == SIZE_MAX) out_.columns[k].push(carried_key_[k]);
      else append_row(out_.columns[k], *(*kp)[k], r);
    }
    for (size_t a = 0; a < aggs_.size(); ++a) out_.columns[keys_.size() + a].push(final(a, state(g, a)));
    if (++out_.rows >= kChunkRows) {
      ctx_.check();
      next_->push(out_);
      out_ = Chunk{};
    }
  }

  uint32_t new_group() {
    states_.resize(states_.size() + aggs_.size());
    ctx_.charge(64 + aggs_.size() * sizeof(AggState));
    return groups_++;
  }

  // The first rows of the runs of equal keys among the first `rows` (0 first) into
  // run_starts_. Only the keys that vary in the chunk are compared (the tags of its one
  // series do not, and keys all constant make one run); integer keys without NULLs (time
  // buckets) in a loop of their own per key.
  void run_starts(const std::vector<const Vector*>& kp, size_t rows) {
    run_starts_.clear();
    if (!rows) return;
    run_starts_.push_back(0);
    live_.clear();
    bool ints = true;
    for (const Vector* v : kp)
      if (!v->constant) {
        live_.push_back(v);
        ints = ints && uses_ints(v->type) && v->valid.empty();
      }
    if (live_.empty()) return;
    if (ints && live_.size() <= 2) {
      // One or two (a day and a ten-minute bucket): both compared in one pass, a run start
      // pushed when either changes (rarely: a branch that predicts), no array of changes.
      const int64_t* x = live_[0]->i.data();
      const int64_t* y = live_.size() > 1 ? live_[1]->i.data() : x;
      for (size_t r = 1; r < rows; ++r)
        if ((x[r] != x[r - 1]) | (y[r] != y[r - 1])) run_starts_.push_back(static_cast<uint32_t>(r));
      return;
    }
    if (ints) {
      changed_.assign(rows, 0);
      for (const Vector* v : live_) {
        const int64_t* x = v->i.data();
        for (size_t r = 1; r < rows; ++r) changed_[r] |= x[r] != x[r - 1];
      }
      for (size_t r = 1; r < rows; ++r)
        if (changed_[r]) run_starts_.push_back(static_cast<uint32_t>(r));
      return;
    }
    for (size_t r = 1; r < rows; ++r)
      if (!same_keys(live_, r, r - 1)) run_starts_.push_back(static_cast<uint32_t>(r));
  }

  // Rows a and b hold the same values in every key, value for value (a difference in a
  // double's bits, as 0 and -0, says no and leaves it to group_of).
  static bool same_keys(const std::vector<const Vector*>& kp, size_t a, size_t b) {
    for (const Vector* v : kp) {
      if (v->constant) continue;
      bool null_a = v->is_null(a);
      if (null_a != v->is_null(b)) return false;
      if (null_a) continue;
      if (uses_ints(v->type)) {
        if (v->i[a] != v->i[b]) return false;
      } else if (v->type == Type::float64) {
        if (std::memcmp(&v->f[a], &v->f[b], sizeof(double)) != 0) return false;
      } else if (uses_strings(v->type)) {
        if (v->s[a] != v->s[b]) return false;
      } else {
        return false;
      }
    }
    return true;
  }

  // The group of row r's keys, made when new. Groups are found by their key bytes in an
  // open-addressing table (slots_: group + 1, 0 free; linear probing, at most half full), the
  // bytes of all groups one after another in arena_: a new group costs no allocation of its
  // own, where a node and a string per group were most of a query making a million groups.
  uint32_t group_of(const std::vector<const Vector*>& kp, size_t r) {
    if (kp.empty()) return 0;
    key_bytes(kp, r, key_);
    const uint64_t h = std::hash<std::string_view>{}(key_);
    if (slots_.empty()) slots_.assign(64, 0);
    size_t mask = slots_.size() - 1, i = h & mask;
    for (; slots_[i]; i = (i + 1) & mask) {
      uint32_t g = slots_[i] - 1;
      if (hashes_[g] == h && std::string_view(arena_).substr(key_at_[g], key_at_[g + 1] - key_at_[g]) == key_) return g;
    }
    uint32_t g = new_group();
    for (size_t k = 0; k < kp.size(); ++k) append_row(key_cols_[k], *kp[k], r);
    arena_ += key_;
    key_at_.push_back(arena_.size());
    hashes_.push_back(h);
    ctx_.charge(key_.size() + 24);
    slots_[i] = g + 1;
    if (2 * static_cast<size_t>(groups_) > slots_.size()) {  // grow: every group placed again
      slots_.assign(2 * slots_.size(), 0);
      mask = slots_.size() - 1;
      for (uint32_t x = 0; x < groups_; ++x) {
        size_t j = hashes_[x] & mask;
        while (slots_[j]) j = (j + 1) & mask;
        slots_[j] = x + 1;
      }
      ctx_.charge(slots_.size() * sizeof(uint32_t) / 2);
    }
    return g;
  }

  // Rows [b, e) of `v` into one state, for the common functions, as update() row by row would
  // leave it (a sum of doubles added up in a local first). A constant (a tag, or a cast of one)
  // counts once per row; a vector with NULLs skips them in the same pass. False, with `st` as
  // it was: use update().
  bool block(size_t a, AggState& st, const Vector* arg, size_t b, size_t e) {
    AggFn fn = fns_[a];
    const size_t rows = e - b;
    if (!arg) {  // count(*)
      st.count += static_cast<int64_t>(rows);
      return true;
    }
    const Vector& v = *arg;
    if (fn != AggFn::count && fn != AggFn::sum && fn != AggFn::avg && fn != AggFn::min && fn != AggFn::max)
      return false;
    if (aggs_[a].distinct) return false;
    if (v.type == Type::null || (v.constant && (!rows || v.is_null(0)))) return true;  // NULLs add nothing
    if (v.constant) {
      if (fn == AggFn::count) {
      } else if (fn == AggFn::min || fn == AggFn::max) {
        take_best(st, v.get(0), fn == AggFn::min);
      } else if (v.type == Type::float64) {
        double s = 0, x = v.f[0];
        for (size_t r = 0; r < rows; ++r) s += x;
        st.fsum += s;
      } else if (v.type == Type::int64) {
        for (size_t r = 0; r < rows; ++r) add_int(st, v.i[0]);
      } else {
        return false;
      }
      st.count += static_cast<int64_t>(rows);
      return true;
    }
    const uint8_t* ok = v.valid.empty() ? nullptr : v.valid.data() + b;
    int64_t n = 0;  // rows with a value
    if (ok) {
      for (size_t r = 0; r < rows; ++r) n += ok[r] != 0;
    } else {
      n = static_cast<int64_t>(rows);
    }
    switch (fn) {
      case AggFn::count: break;
      case AggFn::sum:
      case AggFn::avg:
        if (v.type == Type::float64) {
          const double* f = v.f.data() + b;
          // Four running sums, every fourth row each, added at the end: four additions in
          // flight instead of one chain waiting on each add's latency (a tenth of a full scan's
          // time). The order of additions differs from row by row, within rounding (as
          // PostgreSQL's parallel aggregates do). +0: adding the +0 of a NULL row changes no sum.
          double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
          size_t r = 0;
          if (ok) {
            for (; r + 4 <= rows; r += 4) {
              s0 += ok[r] ? f[r] : 0.0;
              s1 += ok[r + 1] ? f[r + 1] : 0.0;
              s2 += ok[r + 2] ? f[r + 2] : 0.0;
              s3 += ok[r + 3] ? f[r + 3] : 0.0;
            }
            for (; r < rows; ++r) s0 += ok[r] ? f[r] : 0.0;
          } else {
            for (; r + 4 <= rows; r += 4) {
              s0 += f[r];
              s1 += f[r + 1];
              s2 += f[r + 2];
              s3 += f[r + 3];
            }
            for (; r < rows; ++r) s0 += f[r];
          }
          st.fsum += (s0 + s1) + (s2 + s3);
        } else if (v.type == Type::int64) {
          const int64_t* x = v.i.data() + b;
          for (size_t r = 0; r < rows; ++r)
            if (!ok || ok[r]) add_int(st, x[r]);
        } else {
          return false;
        }
        break;
      case AggFn::min:
      case AggFn::max: {
        if (v.type != Type::float64 || !n) return false;
        const double* f = v.f.data() + b;
        size_t r = 0;
        while (ok && !ok[r]) ++r;
        double m = f[r];
        bool has_nan = false;
        for (; r < rows; ++r) {
          if (ok && !ok[r]) continue;
          has_nan |= std::isnan(f[r]);
          m = fn == AggFn::min ? std::min(m, f[r]) : std::max(m, f[r]);
        }
        if (has_nan) return false;
        take_best(st, Value::of_float(m), fn == AggFn::min);
        break;
      }
      default: return false;
    }
    st.count += n;
    return true;
  }

  static void add_int(AggState& st, int64_t x) {
    st.overflow |= __builtin_add_overflow(st.isum, x, &st.isum);
    st.fsum += static_cast<double>(x);
  }

  static void take_best(AggState& st, const Value& v, bool want_less) {
    if (!st.has) {
      st.set_best(v);
      st.has = true;
      return;
    }
    int c;
    if (uses_ints(v.type)) c = v.i < st.best_i ? -1 : v.i > st.best_i;
    else if (v.type == Type::float64) {
      bool nx = std::isnan(v.f), ny = std::isnan(st.best_f);
      c = (nx || ny) ? (nx == ny ? 0 : nx ? 1 : -1) : (v.f < st.best_f ? -1 : v.f > st.best_f);
    } else c = v.s.compare(st.rare->best_s);
    if (want_less ? c < 0 : c > 0) st.set_best(v);
  }

  void update(size_t a, AggState& st, const Vector* arg, const Vector* arg2, size_t r) {
    AggFn fn = fns_[a];
    if (!arg) {
      ++st.count;
      return;
    }
    if (fn == AggFn::first || fn == AggFn::last) {
      if (arg2->is_null(r)) return;
      int64_t t = arg2->i[arg2->at(r)];
      if (!st.has || (fn == AggFn::first ? t < st.best_time : t > st.best_time)) {
        st.has = true;
        st.best_time = t;
        st.set_best(arg->get(r));
      }
      ++st.count;
      return;
    }
    if (arg->is_null(r)) return;
    if (aggs_[a].distinct) {
      std::vector<const Vector*> one{arg};
      key_bytes(one, r, key_);
      if (!st.extra().seen.insert(key_).second) return;
      ctx_.charge(key_.size() + 48);
    }
    size_t k = arg->at(r);
    switch (fn) {
      case AggFn::count: ++st.count; break;
      case AggFn::sum:
      case AggFn::avg:
        if (arg->type == Type::float64) st.fsum += arg->f[k];
        else add_int(st, arg->i[k]);
        ++st.count;
        break;
      case AggFn::min:
      case AggFn::max:
        take_best(st, arg->get(r), fn == AggFn::min);
        ++st.count;
        break;
      case AggFn::stddev_samp:
      case AggFn::stddev_pop:
      case AggFn::var_samp:
      case AggFn::var_pop: {
        double x = arg->type == Type::float64 ? arg->f[k] : static_cast<double>(arg->i[k]);
        ++st.count;
        double d = x - st.mean;
        st.mean += d / static_cast<double>(st.count);
        st.m2 += d * (x - st.mean);
        break;
      }
      case AggFn::percentile_cont:
      case AggFn::percentile_disc:
        st.extra().values.push_back(arg->type == Type::float64 ? arg->f[k] : static_cast<double>(arg->i[k]));
        ctx_.charge(8);
        ++st.count;
        break;
      case AggFn::bool_and:
      case AggFn::bool_or: {
        bool b = arg->i[k] != 0;
        if (!st.has) st.set_best(Value::of_bool(b)), st.has = true;
        else if (fn == AggFn::bool_and) st.best_i = st.best_i && b;
        else st.best_i = st.best_i || b;
        ++st.count;
        break;
      }
      default: break;
    }
  }

  Value final(size_t a, AggState& st) {
    const AggSpec& s = aggs_[a];
    AggFn fn = fns_[a];
    auto null = Value::make_null(s.type);
    switch (fn) {
      case AggFn::count: return Value::of_int(st.count);
      case AggFn::sum:
        if (!st.count) return null;
        if (s.type == Type::int64) {
          if (st.overflow) throw QueryError("bigint out of range");
          return Value::of_int(st.isum);
        }
        return Value::of_float(st.fsum);
      case AggFn::avg:
        if (!st.count) return null;
        if (s.type == Type::interval) {  // PostgreSQL's avg(interval): an interval
          if (st.overflow) return Value::of_interval(std::llround(st.fsum / static_cast<double>(st.count)));
          return Value::of_interval(st.isum / st.count);
        }
        if (s.arg->type == Type::int64 && !st.overflow)
          return Value::of_float(static_cast<double>(st.isum) / static_cast<double>(st.count));
        return Value::of_float(st.fsum / static_cast<double>(st.count));
      case AggFn::min:
      case AggFn::max:
      case AggFn::first:
      case AggFn::last:
      case AggFn::bool_and:
      case AggFn::bool_or:
        if (!st.has) return null;
        return st.best();
      case AggFn::stddev_samp:
        return st.count < 2 ? null : Value::of_float(std::sqrt(st.m2 / static_cast<double>(st.count - 1)));
      case AggFn::var_samp:
        return st.count < 2 ? null : Value::of_float(st.m2 / static_cast<double>(st.count - 1));
      case AggFn::stddev_pop:
        return st.count < 1 ? null : Value::of_float(std::sqrt(st.m2 / static_cast<double>(st.count)));
      case AggFn::var_pop:
        return st.count < 1 ? null : Value::of_float(st.m2 / static_cast<double>(st.count));
      case AggFn::percentile_cont:
      case AggFn::percentile_disc: {
        if (!st.rare || st.rare->values.empty()) return null;
        Vector fv = eval(*s.arg2, Chunk{{}, 1}, ctx_.eval);
        if (fv.is_null(0)) return null;
        double f = fv.f[0];
        if (f < 0 || f > 1 || std::isnan(f))
          throw QueryError("percentile value " + format_double(f) + " is not between 0 and 1");
        auto& v = st.rare->values;
        std::sort(v.begin(), v.end());
        if (fn == AggFn::percentile_disc) {
          size_t idx = f == 0 ? 0 : static_cast<size_t>(std::ceil(f * static_cast<double>(v.size()))) - 1;
          return Value::of_float(v[std::min(idx, v.size() - 1)]);
        }
        double pos = f * static_cast<double>(v.size() - 1);
        size_t lo = static_cast<size_t>(std::floor(pos)), hi = static_cast<size_t>(std::ceil(pos));
        return Value::of_float(v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo)));
      }
    }
    return null;
  }

  std::vector<const Expr*> keys_;
  std::vector<AggSpec> aggs_;
  std::vector<AggFn> fns_;
  ExecContext& ctx_;
  Operator* next_;
  // Groups (group_of): key k of group g is key_cols_[k]'s row g.
  uint32_t groups_ = 0;
  std::vector<Vector> key_cols_;
  std::vector<uint32_t> slots_;
  std::vector<uint64_t> hashes_;
  std::string arena_;
  std::vector<size_t> key_at_{0};
  AggStates states_;  // g * aggs_.size() + a
  struct Run {
    uint32_t begin;  // first row; the run ends where the next begins, or at the chunk's end
    uint32_t group;
  };
  std::vector<Run> runs_;
  std::vector<uint32_t> run_starts_;
  std::vector<const Vector*> live_;
  std::vector<uint8_t> changed_;
  // Streaming (see push_streaming).
  std::vector<size_t> starts_;
  std::vector<Value> carried_key_;
  bool carried_ = false;
  Chunk out_;
  std::string key_;
};

// ---- gap filling -----------------------------------------------------------------------------
class Gapfill : public Operator {
 public:
  Gapfill(GapfillSpec spec, ExecContext& ctx, Operator* next)
      : spec_(std::move(spec)), ctx_(ctx), next_(next), types_(spec_.types) {}
  void push(Chunk& c) override {
    for (auto& v : c.columns) v.expand();
    ctx_.charge(chunk_bytes(c));
    std::vector<const Vector*> gcols;
    for (int k : spec_.groups) gcols.push_back(&c.columns[static_cast<size_t>(k)]);
    const Vector& b = c.columns[static_cast<size_t>(spec_.bucket)];
    for (size_t r = 0; r < c.rows; ++r) {
      key_bytes(gcols, r, key_);
      auto [it, fresh] = index_.emplace(key_, groups_.size());
      if (fresh) groups_.emplace_back();
      std::vector<Value> row;
      for (auto& v : c.columns) row.push_back(v.get(r));
      int64_t t = b.is_null(r) ? INT64_MIN : b.i[r];
      groups_[it->second].emplace(t, std::move(row));
    }
  }
  void finish() override {
    if (groups_.empty() && spec_.groups.empty() && !types_.empty()) groups_.emplace_back();
    Chunk out = fresh();
    auto flush = [&] {
      if (!out.rows) return;
      next_->push(out);
      out = fresh();
    };
    auto emit = [&](const std::vector<Value>& row, int64_t gid, bool added) {
      for (size_t k = 0; k < row.size(); ++k) out.columns[k].push(row[k]);
      out.columns[row.size()].push(Value::of_int(gid));
      out.columns[row.size() + 1].push(Value::of_bool(added));
      if (++out.rows == kChunkRows) flush();
    };
    int64_t first = time_bucket(spec_.width, spec_.start, spec_.origin);
    for (size_t g = 0; g < groups_.size() && !ctx_.stop; ++g) {
      ctx_.check();
      auto& rows = groups_[g];
      std::vector<Value> proto(types_.size());
      for (size_t k = 0; k < types_.size(); ++k) proto[k] = Value::make_null(types_[k]);
      if (!rows.empty())
        for (int k : spec_.groups) proto[static_cast<size_t>(k)] = rows.begin()->second[static_cast<size_t>(k)];
      auto it = rows.begin();
      for (int64_t t = first; t < spec_.finish; t += spec_.width) {
        for (; it != rows.end() && it->first < t; ++it) emit(it->second, static_cast<int64_t>(g), false);
        if (it != rows.end() && it->first == t) {
          emit(it->second, static_cast<int64_t>(g), false);
          ++it;
          continue;
        }
        std::vector<Value> row = proto;
        row[static_cast<size_t>(spec_.bucket)] = Value::of_time(t);
        emit(row, static_cast<int64_t>(g), true);
      }
      for (; it != rows.end(); ++it) emit(it->second, static_cast<int64_t>(g), false);
    }
    flush();
    next_->finish();
  }

 private:
  Chunk fresh() const {
    Chunk c;
    for (Type t : types_) {
      Vector v;
      v.clear(t);
      c.columns.push_back(std::move(v));
    }
    for (Type t : {Type::int64, Type::boolean}) {
      Vector v;
      v.clear(t);
      c.columns.push_back(std::move(v));
    }
    return c;
  }

  GapfillSpec spec_;
  ExecContext& ctx_;
  Operator* next_;
  std::vector<Type> types_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<std::multimap<int64_t, std::vector<Value>>> groups_;
  std::string key_;
};

class Fill : public Operator {
 public:
  Fill(FillSpec spec, ExecContext& ctx, Operator* next) : spec_(std::move(spec)), ctx_(ctx), next_(next) {}
  void push(Chunk& c) override {
    for (auto& v : c.columns) v.expand();
    const Vector& gv = c.columns[static_cast<size_t>(spec_.group)];
    size_t from = 0;
    for (size_t r = 0; r < c.rows; ++r) {
      int64_t g = gv.i[r];
      if (group_ != g && (held_.rows || r > from)) {
        hold(c, from, r);
        release();
        from = r;
      }
      group_ = g;
    }
    hold(c, from, c.rows);
  }
  void finish() override {
    release();
    next_->finish();
  }

 private:
  void hold(const Chunk& c, size_t from, size_t to) {
    if (to <= from) return;
    if (held_.columns.empty())
      for (auto& v : c.columns) {
        Vector e;
        e.clear(v.type);
        held_.columns.push_back(std::move(e));
      }
    for (size_t k = 0; k < c.columns.size(); ++k)
      for (size_t r = from; r < to; ++r) append_row(held_.columns[k], c.columns[k], r);
    held_.rows += to - from;
    ctx_.charge((to - from) * c.columns.size() * 16);
  }
  // One group's rows: fill the added ones, pass them on.
  void release() {
    if (!held_.rows) return;
    Chunk& h = held_;
    const Vector& added = h.columns[static_cast<size_t>(spec_.added)];
    const Vector& time = h.columns[static_cast<size_t>(spec_.time)];
    for (int k : spec_.locf) {
      Vector& v = h.columns[static_cast<size_t>(k)];
      Vector out;
      out.clear(v.type);
      bool have = false;
      Value last;
      for (size_t r = 0; r < h.rows; ++r) {
        if (added.i[r]) {
          out.push(have ? last : Value::make_null(v.type));
        } else {
          last = v.get(r);
          have = true;
          out.push(last);
        }
      }
      v = std::move(out);
    }
    for (int k : spec_.interpolate) {
      Vector& v = h.columns[static_cast<size_t>(k)];
      if (!is_numeric(v.type)) continue;
      Vector out;
      out.clear(v.type);
      // The nearest row with a value after each row, in one pass from the end (a search from
      // every added row was quadratic in a long gap: 267,000 buckets took 24 s, past any
      // time limit, which nothing here checks); the nearest before, as the rows go.
      auto real = [&](size_t q) { return !added.i[q] && !v.is_null(q); };
      std::vector<long> next_real(h.rows);
      long after = -1;
      for (size_t q = h.rows; q-- > 0;) {
        next_real[q] = after;
        if (real(q)) after = static_cast<long>(q);
      }
      long before = -1;
      for (size_t r = 0; r < h.rows; ++r) {
        if (!added.i[r] || !v.is_null(r)) {
          out.push(v.get(r));
          if (real(r)) before = static_cast<long>(r);
          continue;
        }
        long lo = before, hi = next_real[r];
        if (lo < 0 || hi < 0) {
          out.push_null();
          continue;
        }
        auto val = [&](long q) {
          size_t u = static_cast<size_t>(q);
          return v.type == Type::float64 ? v.f[u] : static_cast<double>(v.i[u]);
        };
        double t0 = static_cast<double>(time.i[static_cast<size_t>(lo)]), t1 = static_cast<double>(time.i[static_cast<size_t>(hi)]);
        double y = val(lo) + (val(hi) - val(lo)) * (static_cast<double>(time.i[r]) - t0) / (t1 - t0);
        out.push(v.type == Type::float64 ? Value::of_float(y) : Value::of_int(static_cast<int64_t>(std::llround(y))));
      }
      v = std::move(out);
    }
    next_->push(h);
    held_ = Chunk();
  }

  FillSpec spec_;
  ExecContext& ctx_;
  Operator* next_;
  Chunk held_;
  int64_t group_ = -1;
};

}  // namespace

Type aggregate_type(const std::string& fn, Type arg, int location) {
  AggFn f = agg_fn(fn);
  auto bad = [&]() -> Type {
    throw QueryError("function " + fn + "(" + std::string(type_name(arg)) + ") does not exist", location);
  };
  switch (f) {
    case AggFn::count: return Type::int64;
    case AggFn::sum:
      if (arg == Type::int64 || arg == Type::float64) return arg;
      if (arg == Type::interval) return bad();
      return bad();
    case AggFn::avg:
      if (arg == Type::interval) return Type::interval;
      [[fallthrough]];
    case AggFn::stddev_samp:
    case AggFn::stddev_pop:
    case AggFn::var_samp:
    case AggFn::var_pop:
    case AggFn::percentile_cont:
    case AggFn::percentile_disc:
      if (!is_numeric(arg)) return bad();
      return Type::float64;
    case AggFn::min:
    case AggFn::max:
      if (arg == Type::json || arg == Type::null) return bad();
      return arg;
    case AggFn::first:
    case AggFn::last: return arg;
    case AggFn::bool_and:
    case AggFn::bool_or:
      if (arg != Type::boolean) return bad();
      return Type::boolean;
  }
  return bad();
}

void Collector::push(Chunk& chunk) {
  for (auto& v : chunk.columns) v.expand();
  ctx_.charge(chunk_bytes(chunk));
  chunks.push_back(std::move(chunk));
}

void SinkOperator::push(Chunk& chunk) {
  if (ctx_.stop) return;
  ctx_.check();
  if (chunk.columns.size() > visible_) chunk.columns.resize(visible_);
  for (auto& v : chunk.columns) v.expand();
  rows += chunk.rows;
  if (!sink_.rows(chunk)) ctx_.stop = true;
}

OperatorPtr make_filter(const Expr* p, ExecContext& ctx, Operator* next, std::vector<bool> live) {
  return std::make_unique<Filter>(p, ctx, next, std::move(live));
}
OperatorPtr make_project(std::vector<const Expr*> e, ExecContext& ctx, Operator* next) {
  return std::make_unique<Project>(std::move(e), ctx, next);
}
OperatorPtr make_limit(int64_t limit, int64_t offset, ExecContext& ctx, Operator* next) {
  return std::make_unique<Limit>(limit, offset, ctx, next);
}
OperatorPtr make_sort(std::vector<SortKey> keys, int64_t limit, ExecContext& ctx, Operator* next) {
  return std::make_unique<Sort>(std::move(keys), limit, ctx, next);
}
OperatorPtr make_distinct_on(std::vector<int> columns, ExecContext& ctx, Operator* next) {
  return std::make_unique<DistinctOn>(std::move(columns), ctx, next);
}
OperatorPtr make_distinct(std::vector<int> columns, ExecContext& ctx, Operator* next) {
  return std::make_unique<Distinct>(std::move(columns), ctx, next);
}
OperatorPtr make_aggregate(std::vector<const Expr*> keys, std::vector<AggSpec> aggs, ExecContext& ctx, Operator* next,
                           bool streaming) {
  auto a = std::make_unique<Aggregate>(std::move(keys), std::move(aggs), ctx, next);
  a->streaming = streaming && !a->keyless();
  return a;
}
OperatorPtr make_summary_aggregate(std::vector<const Expr*> keys, std::vector<AggSpec> aggs, SummarySpec summary,
                                   ExecContext& ctx, Operator* next, SummaryConsumer** consumer) {
  auto a = std::make_unique<Aggregate>(std::move(keys), std::move(aggs), ctx, next);
  a->summary = std::move(summary);
  *consumer = a.get();
  return a;
}
OperatorPtr make_gapfill(GapfillSpec spec, ExecContext& ctx, Operator* next) {
  return std::make_unique<Gapfill>(std::move(spec), ctx, next);
}
OperatorPtr make_fill(FillSpec spec, ExecContext& ctx, Operator* next) {
  return std::make_unique<Fill>(std::move(spec), ctx, next);
}

}  // namespace mqbase::query
