// The Window step (docs/sql.md#window-functions). PostgreSQL computes window functions after
// WHERE, GROUP BY and HAVING and before DISTINCT, ORDER BY and LIMIT; so does this operator,
// placed before the projection. It must see a whole partition before it can answer for its
// first row, so it holds every input row (charged to the query's memory limit, as Sort does),
// sorts the rows once per distinct OVER clause by (PARTITION BY keys, ORDER BY keys), stably,
// and computes each function over its frame: by default PostgreSQL's, with ORDER BY from the
// start of the partition to the current row's last peer (the rows equal on the ORDER BY keys
// share one answer), without ORDER BY the whole partition; or ROWS BETWEEN ... as written.
#include <algorithm>
#include <cmath>
#include <memory>

#include "query/operators.h"

namespace mqbase::query {

namespace {

// Ordered so: the ones from first_value on use the frame, from count on they aggregate.
enum class WinFn : uint8_t { row_number, rank, dense_rank, lag, lead, first_value, last_value, count, sum, avg, min, max };

WinFn win_fn(const std::string& n) {
  static const std::pair<const char*, WinFn> names[] = {
      {"row_number", WinFn::row_number}, {"rank", WinFn::rank}, {"dense_rank", WinFn::dense_rank},
      {"lag", WinFn::lag}, {"lead", WinFn::lead}, {"first_value", WinFn::first_value},
      {"last_value", WinFn::last_value}, {"count", WinFn::count}, {"sum", WinFn::sum},
      {"avg", WinFn::avg}, {"min", WinFn::min}};
  for (auto& [name, fn] : names)
    if (n == name) return fn;
  return WinFn::max;
}

struct RowRef {
  uint32_t chunk, row;
};

// Per held chunk, the values of some expressions over it: columns[c][k] is expression k over
// chunk c. A bare column reference is the chunk's own column, not a copy (PARTITION BY eight
// tags copied eight strings a row).
class Columns {
 public:
  class Of {  // one chunk's
   public:
    const Vector& operator[](size_t k) const { return *v_[k]; }
    size_t size() const { return v_.size(); }
    bool empty() const { return v_.empty(); }

   private:
    friend class Columns;
    std::vector<const Vector*> v_;
  };
  explicit Columns(size_t chunks = 0) : of_(chunks) {}
  const Of& operator[](size_t c) const { return of_[c]; }
  bool empty() const { return of_.empty(); }  // no expressions were evaluated (no FILTER)
  void refer(size_t c, const Vector& v) { of_[c].v_.push_back(&v); }
  const Vector& own(size_t c, Vector v) {
    owned_.push_back(std::make_unique<Vector>(std::move(v)));
    of_[c].v_.push_back(owned_.back().get());
    return *owned_.back();
  }

 private:
  std::vector<Of> of_;
  std::vector<std::unique_ptr<Vector>> owned_;
};

// A result column of `n` rows, every row present, filled in any order by put().
Vector sized(Type t, size_t n) {
  Vector v;
  v.clear(t);
  v.size = n;
  v.valid.assign(n, 1);
  if (uses_ints(t)) v.i.resize(n);
  else if (t == Type::float64) v.f.resize(n);
  else if (uses_strings(t)) v.s.resize(n);
  return v;
}

void put(Vector& out, size_t at, const Vector& from, size_t r) {
  if (from.is_null(r)) {
    out.valid[at] = 0;
    return;
  }
  size_t k = from.at(r);
  if (uses_ints(out.type)) out.i[at] = from.i[k];
  else if (out.type == Type::float64) out.f[at] = from.f[k];
  else if (uses_strings(out.type)) out.s[at] = from.s[k];
}

// count, sum, avg, min and max over the rows added so far.
struct Running {
  int64_t count = 0, isum = 0;
  double fsum = 0;
  bool overflow = false;
  bool has = false;
  RowRef best{0, 0};  // min, max: where the value is
};

class Window : public Operator {
 public:
  Window(std::vector<WindowSpec> specs, ExecContext& ctx, Operator* next)
      : specs_(std::move(specs)), ctx_(ctx), next_(next) {}

  void push(Chunk& c) override {
    if (!c.rows) return;
    for (auto& v : c.columns) v.expand();
    ctx_.charge(chunk_bytes(c) + c.rows * (sizeof(RowRef) + sizeof(size_t)));
    base_.push_back(rows_);
    rows_ += c.rows;
    chunks_.push_back(std::move(c));
  }

  void finish() override {
    if (!rows_) {
      next_->finish();
      return;
    }
    results_.resize(specs_.size());
    std::vector<bool> done(specs_.size(), false);
    std::vector<RowRef> refs;
    for (size_t s = 0; s < specs_.size(); ++s) {
      if (done[s]) continue;
      // Functions with the same OVER clause share one sort.
      refs = sorted(specs_[s]);
      for (size_t f = s; f < specs_.size(); ++f)
        if (!done[f] && same_window(specs_[s], specs_[f])) {
          done[f] = true;
          compute(f, refs);
        }
    }
    emit(refs);
  }

 private:
  static bool same_window(const WindowSpec& a, const WindowSpec& b) {
    auto same = [](const std::vector<const Expr*>& x, const std::vector<const Expr*>& y) {
      if (x.size() != y.size()) return false;
      for (size_t k = 0; k < x.size(); ++k)
        if (!x[k]->same(*y[k])) return false;
      return true;
    };
    if (!same(a.partition, b.partition) || !same(a.order, b.order)) return false;
    for (size_t k = 0; k < a.order_keys.size(); ++k)
      if (a.order_keys[k].desc != b.order_keys[k].desc || a.order_keys[k].nulls_first != b.order_keys[k].nulls_first)
        return false;
    return true;
  }

  Columns evaluate(const std::vector<const Expr*>& exprs) {
    Columns out(chunks_.size());
    for (size_t c = 0; c < chunks_.size(); ++c) {
      ctx_.check();
      for (const Expr* e : exprs) {
        if (e->kind == ExprKind::column) {  // push() expanded the chunk's columns
          out.refer(c, chunks_[c].columns[static_cast<size_t>(e->column)]);
          continue;
        }
        Vector v = eval(*e, chunks_[c], ctx_.eval);
        v.expand();
        ctx_.charge(vector_bytes(out.own(c, std::move(v))));
      }
    }
    return out;
  }

  // Orders a and b on `keys` (null `dirs`: ascending, NULLs last): -1, 0, 1.
  static int compare(const Columns& keys, const std::vector<SortKey>* dirs, RowRef a, RowRef b) {
    const auto& ka = keys[a.chunk];
    const auto& kb = keys[b.chunk];
    for (size_t k = 0; k < ka.size(); ++k) {
      bool desc = dirs && (*dirs)[k].desc, nulls_first = dirs && (*dirs)[k].nulls_first;
      bool na = ka[k].is_null(a.row), nb = kb[k].is_null(b.row);
      if (na || nb) {
        if (na == nb) continue;
        return na == nulls_first ? -1 : 1;
      }
      int c = compare_cell(ka[k], a.row, kb[k], b.row);
      if (c) return desc ? -c : c;
    }
    return 0;
  }

  // Whether a and b are equal on `keys` (NULLs equal, as compare() says 0): inline, for the
  // pass that finds where partitions start (eight tag strings a row).
  static bool same(const Columns& keys, RowRef a, RowRef b) {
    const auto& ka = keys[a.chunk];
    const auto& kb = keys[b.chunk];
    for (size_t k = 0; k < ka.size(); ++k) {
      const Vector &x = ka[k], &y = kb[k];
      bool nx = x.is_null(a.row), ny = y.is_null(b.row);
      if (nx || ny) {
        if (nx != ny) return false;
        continue;
      }
      const size_t i = x.at(a.row), j = y.at(b.row);
      if (uses_strings(x.type)) {
        if (x.s[i] != y.s[j]) return false;
      } else if (uses_ints(x.type)) {
        if (x.i[i] != y.i[j]) return false;
      } else if (compare_cell(x, a.row, y, b.row) != 0) {
        return false;
      }
    }
    return true;
  }

  std::vector<RowRef> sorted(const WindowSpec& s) {
    partition_ = evaluate(s.partition);
    order_ = evaluate(s.order);
    order_keys_ = s.order_keys;
    std::vector<RowRef> refs;
    refs.reserve(rows_);
    for (uint32_t c = 0; c < chunks_.size(); ++c)
      for (uint32_t r = 0; r < chunks_[c].rows; ++r) refs.push_back({c, r});
    ctx_.check();
    if (sorted_by_segments(refs)) return refs;
    std::stable_sort(refs.begin(), refs.end(), [&](RowRef a, RowRef b) {
      int c = compare(partition_, nullptr, a, b);
      if (c) return c < 0;
      return compare(order_, &order_keys_, a, b) < 0;
    });
    bounds_.clear();
    for (size_t r = 0; r < refs.size(); ++r)
      if (r == 0 || compare(partition_, nullptr, refs[r - 1], refs[r]) != 0) bounds_.push_back(r);
    bounds_.push_back(refs.size());
    return refs;
  }

  // When the rows arrive partition by partition, each partition's rows together and already in
  // order (an aggregate's groups put out series by series, in time), sorting the partitions
  // as whole segments gives what the stable sort of every row would, with a comparison per
  // row and per pair of partitions instead of per row times log rows. False (refs untouched)
  // when the rows are not so.
  bool sorted_by_segments(std::vector<RowRef>& refs) {
    const size_t n = refs.size();
    std::vector<size_t> starts;  // the segments of equal partition keys, in arrival order
    for (size_t r = 0; r < n; ++r) {
      if (r == 0 || !same(partition_, refs[r - 1], refs[r])) starts.push_back(r);
      else if (compare(order_, &order_keys_, refs[r - 1], refs[r]) > 0) return false;
      if ((r & 0xFFFF) == 0) ctx_.check();
    }
    std::vector<uint32_t> seg(starts.size());
    for (uint32_t k = 0; k < seg.size(); ++k) seg[k] = k;
    auto first = [&](uint32_t k) { return refs[starts[k]]; };
    std::sort(seg.begin(), seg.end(), [&](uint32_t a, uint32_t b) { return compare(partition_, nullptr, first(a), first(b)) < 0; });
    for (size_t k = 1; k < seg.size(); ++k)
      if (compare(partition_, nullptr, first(seg[k - 1]), first(seg[k])) == 0) return false;  // a partition in two places
    // Each segment is a partition: their bounds, in the order they are put.
    bounds_.clear();
    if (std::is_sorted(seg.begin(), seg.end())) {
      bounds_.assign(starts.begin(), starts.end());
      bounds_.push_back(n);
      return true;
    }
    std::vector<RowRef> out;
    out.reserve(n);
    for (uint32_t k : seg) {
      size_t end = k + 1 < starts.size() ? starts[k + 1] : n;
      bounds_.push_back(out.size());
      out.insert(out.end(), refs.begin() + static_cast<long>(starts[k]), refs.begin() + static_cast<long>(end));
    }
    bounds_.push_back(n);
    refs = std::move(out);
    return true;
  }

  size_t index(RowRef r) const { return base_[r.chunk] + r.row; }

  // Spec f's column, over partitions [ps, pe) and, within them, peer groups [qs, qe).
  void compute(size_t f, const std::vector<RowRef>& refs) {
    const WindowSpec& s = specs_[f];
    WinFn fn = win_fn(s.fn);
    Columns args = evaluate(s.args);
    Columns filter;
    if (s.filter) filter = evaluate({s.filter});
    Vector out = sized(s.type, rows_);
    ctx_.charge(vector_bytes(out));
    std::vector<Span> peers;
    for (size_t p = 0; p + 1 < bounds_.size(); ++p) {
      const size_t ps = bounds_[p], pe = bounds_[p + 1];
      ctx_.check();
      peers.clear();
      int64_t group = 0;
      for (size_t qs = ps, qe; qs < pe; qs = qe, ++group) {
        for (qe = qs + 1; qe < pe && compare(order_, &order_keys_, refs[qs], refs[qe]) == 0;) ++qe;
        for (size_t q = qs; q < qe; ++q) {
          peers.push_back({qs, qe});
          size_t at = index(refs[q]);
          switch (fn) {
            case WinFn::row_number: out.i[at] = static_cast<int64_t>(q - ps + 1); break;
            case WinFn::rank: out.i[at] = static_cast<int64_t>(qs - ps + 1); break;
            case WinFn::dense_rank: out.i[at] = group + 1; break;
            case WinFn::lag:
            case WinFn::lead: shifted(out, at, args, refs, q, ps, pe, fn == WinFn::lag); break;
            default: break;
          }
        }
      }
      if (fn >= WinFn::first_value) framed(out, s, fn, args, filter, refs, ps, pe, peers);
    }
    results_[f] = std::move(out);
  }

  struct Span {
    size_t from, to;  // rows [from, to) of the sorted refs
  };

  // Row q's frame in partition [ps, pe), q's peers being `peer`. Offsets are not negative.
  static Span frame_of(const WindowFrame& f, size_t q, size_t ps, size_t pe, Span peer) {
    using B = WindowFrame::Bound;
    auto n_before = [&](int64_t n) { return static_cast<uint64_t>(n) > q - ps; };   // q - n < ps
    auto n_after = [&](int64_t n) { return static_cast<uint64_t>(n) >= pe - q; };   // q + n >= pe
    Span s{ps, pe};
    switch (f.start) {
      case B::unbounded: s.from = ps; break;
      case B::current: s.from = f.rows ? q : peer.from; break;
      case B::preceding: s.from = n_before(f.start_offset) ? ps : q - static_cast<size_t>(f.start_offset); break;
      case B::following: s.from = n_after(f.start_offset) ? pe : q + static_cast<size_t>(f.start_offset); break;
    }
    switch (f.end) {
      case B::unbounded: s.to = pe; break;
      case B::current: s.to = f.rows ? q + 1 : peer.to; break;
      case B::preceding: s.to = n_before(f.end_offset) ? ps : q - static_cast<size_t>(f.end_offset) + 1; break;
      case B::following: s.to = n_after(f.end_offset) ? pe : q + static_cast<size_t>(f.end_offset) + 1; break;
    }
    if (s.to < s.from) s.to = s.from;
    return s;
  }

  // first_value, last_value and the aggregates over each row's frame. Frames that start at the
  // partition's start only grow, and frames that end at its end only shrink, so those add each
  // row once; frames bounded at both ends are summed one by one (at most their width each).
  void framed(Vector& out, const WindowSpec& s, WinFn fn, const Columns& args, const Columns& filter,
              const std::vector<RowRef>& refs, size_t ps, size_t pe, const std::vector<Span>& peers) {
    using B = WindowFrame::Bound;
    auto frame = [&](size_t q) { return frame_of(s.frame, q, ps, pe, peers[q - ps]); };
    if (fn == WinFn::first_value || fn == WinFn::last_value) {
      for (size_t q = ps; q < pe; ++q) {
        Span w = frame(q);
        size_t at = index(refs[q]);
        if (w.from == w.to) {
          out.valid[at] = 0;
          continue;
        }
        RowRef t = refs[fn == WinFn::first_value ? w.from : w.to - 1];
        put(out, at, args[t.chunk][0], t.row);
      }
      return;
    }
    if (s.frame.start == B::unbounded) {
      Running run;
      size_t added = ps;
      for (size_t q = ps; q < pe; ++q) {
        for (size_t to = frame(q).to; added < to;) add(run, fn, args, filter, refs[added++]);
        total(out, index(refs[q]), run, fn, args);
      }
    } else if (s.frame.end == B::unbounded) {
      Running run;
      size_t added = pe;
      for (size_t q = pe; q-- > ps;) {
        for (size_t from = frame(q).from; added > from;) add(run, fn, args, filter, refs[--added]);
        total(out, index(refs[q]), run, fn, args);
      }
    } else {
      for (size_t q = ps; q < pe; ++q) {
        if ((q - ps) % 4096 == 0) ctx_.check();
        Running run;
        Span w = frame(q);
        for (size_t r = w.from; r < w.to; ++r) add(run, fn, args, filter, refs[r]);
        total(out, index(refs[q]), run, fn, args);
      }
    }
  }

  // lag/lead(value [, offset [, default]]): the value `offset` rows before/after row q in its
  // partition; the default (at row q) past either end; NULL for a NULL offset.
  static void shifted(Vector& out, size_t at, const Columns& args, const std::vector<RowRef>& refs, size_t q,
                      size_t ps, size_t pe, bool back) {
    RowRef r = refs[q];
    int64_t offset = 1;
    if (args[r.chunk].size() > 1) {
      const Vector& o = args[r.chunk][1];
      if (o.is_null(r.row)) {
        out.valid[at] = 0;
        return;
      }
      offset = o.i[o.at(r.row)];
    }
    int64_t target;
    bool out_of_range = back ? __builtin_sub_overflow(static_cast<int64_t>(q), offset, &target)
                             : __builtin_add_overflow(static_cast<int64_t>(q), offset, &target);
    out_of_range = out_of_range || target < static_cast<int64_t>(ps) || target >= static_cast<int64_t>(pe);
    if (!out_of_range) {
      RowRef t = refs[static_cast<size_t>(target)];
      put(out, at, args[t.chunk][0], t.row);
    } else if (args[r.chunk].size() > 2) {
      put(out, at, args[r.chunk][2], r.row);
    } else {
      out.valid[at] = 0;
    }
  }

  static void add(Running& run, WinFn fn, const Columns& args, const Columns& filter, RowRef r) {
    if (!filter.empty()) {
      const Vector& f = filter[r.chunk][0];
      if (f.is_null(r.row) || !f.i[f.at(r.row)]) return;
    }
    if (args[r.chunk].empty()) {  // count(*)
      ++run.count;
      return;
    }
    const Vector& v = args[r.chunk][0];
    if (v.is_null(r.row)) return;
    size_t k = v.at(r.row);
    ++run.count;
    if (fn == WinFn::sum || fn == WinFn::avg) {
      if (v.type == Type::float64) run.fsum += v.f[k];
      else {
        run.overflow |= __builtin_add_overflow(run.isum, v.i[k], &run.isum);
        run.fsum += static_cast<double>(v.i[k]);
      }
    } else if (fn == WinFn::min || fn == WinFn::max) {
      int c = run.has ? compare_cell(v, r.row, args[run.best.chunk][0], run.best.row) : 0;
      if (!run.has || (fn == WinFn::min ? c < 0 : c > 0)) run.best = r;
      run.has = true;
    }
  }

  static void total(Vector& out, size_t at, const Running& run, WinFn fn, const Columns& args) {
    if (fn == WinFn::count) {
      out.i[at] = run.count;
      return;
    }
    if (!run.count) {
      out.valid[at] = 0;
      return;
    }
    if (fn == WinFn::min || fn == WinFn::max) {
      put(out, at, args[run.best.chunk][0], run.best.row);
    } else if (fn == WinFn::avg && out.type == Type::interval) {
      out.i[at] = run.overflow ? std::llround(run.fsum / static_cast<double>(run.count)) : run.isum / run.count;
    } else if (fn == WinFn::avg) {
      // Of bigints, the exact sum unless it overflowed (as the Aggregate step does).
      double sum = args[0][0].type == Type::int64 && !run.overflow ? static_cast<double>(run.isum) : run.fsum;
      out.f[at] = sum / static_cast<double>(run.count);
    } else if (out.type == Type::int64) {
      if (run.overflow) throw QueryError("bigint out of range");
      out.i[at] = run.isum;
    } else {
      out.f[at] = run.fsum;
    }
  }

  void emit(const std::vector<RowRef>& refs) {
    for (size_t at = 0; at < refs.size() && !ctx_.stop; at += kChunkRows) {
      ctx_.check();
      Chunk out = empty_like(chunks_[0]);
      for (auto& s : specs_) {
        Vector v;
        v.clear(s.type);
        out.columns.push_back(std::move(v));
      }
      size_t m = std::min(kChunkRows, refs.size() - at), width = chunks_[0].columns.size();
      for (size_t k = 0; k < out.columns.size(); ++k) {
        Vector& to = out.columns[k];
        to.reserve(m);
        // Runs of rows that follow each other in one held chunk (a partition that arrived
        // whole) are moved as ranges: the rows are not needed after this.
        for (size_t j = at, e; j < at + m; j = e) {
          for (e = j + 1; e < at + m && refs[e].chunk == refs[j].chunk && refs[e].row == refs[e - 1].row + 1;) ++e;
          Vector& from = k < width ? chunks_[refs[j].chunk].columns[k] : results_[k - width];
          const size_t lo = k < width ? refs[j].row : index(refs[j]);
          if (from.type == to.type && !from.constant) {
            append_rows_moving(to, from, lo, lo + (e - j));
          } else {
            for (size_t q = j; q < e; ++q) append_row(to, from, k < width ? refs[q].row : index(refs[q]));
          }
        }
      }
      out.rows = m;
      next_->push(out);
    }
    next_->finish();
  }

  std::vector<WindowSpec> specs_;
  ExecContext& ctx_;
  Operator* next_;
  std::vector<Chunk> chunks_;
  std::vector<size_t> base_;  // per chunk: the index of its first row among all rows
  size_t rows_ = 0;
  Columns partition_, order_;  // of the OVER clause being computed
  std::vector<size_t> bounds_;  // where each of its partitions starts in the sorted rows, then the end
  std::vector<SortKey> order_keys_;
  std::vector<Vector> results_;
};

}  // namespace

OperatorPtr make_window(std::vector<WindowSpec> specs, ExecContext& ctx, Operator* next) {
  return std::make_unique<Window>(std::move(specs), ctx, next);
}

}  // namespace mqbase::query
