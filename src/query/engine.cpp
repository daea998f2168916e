// The engine: statements in, rows out. parse (libpg_query's JSON parse tree, read with
// simdjson) -> bind (names and types resolved, aggregates collected, constants folded) ->
// plan (pushdown of time ranges and tag filters into Tables::scan) -> a pipeline of
// operators (operators.h) whose last one feeds the ResultSink.
#include "query/engine.h"

#include <malloc.h>

#include <pg_query.h>
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "query/nesting.h"
#include "query/operators.h"
#include "store/tables.h"

namespace mqbase::query {

namespace tb = store::tables;
using El = simdjson::dom::element;

std::string QueryStatus::describe() const {
  if (position > 0) return error + " at character " + std::to_string(position);
  return error;
}

Type query_type(tb::ColumnType t) {
  switch (t) {
    case tb::ColumnType::time: return Type::timestamp;
    case tb::ColumnType::tag:
    case tb::ColumnType::varchar: return Type::text;
    case tb::ColumnType::float64: return Type::float64;
    case tb::ColumnType::int64: return Type::int64;
    case tb::ColumnType::boolean: return Type::boolean;
    case tb::ColumnType::json: return Type::json;
  }
  return Type::text;
}

namespace {

[[noreturn]] void fail(const std::string& m, int loc = -1) { throw QueryError(m, loc); }

// ---- the parse tree ----------------------------------------------------------------------------
std::optional<El> field(El e, const char* key) {
  simdjson::dom::object o;
  if (e.get_object().get(o)) return std::nullopt;
  El v;
  if (o[key].get(v)) return std::nullopt;
  return v;
}
std::string_view str(El e, const char* key) {
  auto f = field(e, key);
  std::string_view s;
  if (!f || f->get_string().get(s)) return {};
  return s;
}
int64_t num(El e, const char* key, int64_t dflt = 0) {
  auto f = field(e, key);
  int64_t v;
  if (!f || f->get_int64().get(v)) return dflt;
  return v;
}
bool flag(El e, const char* key) {
  auto f = field(e, key);
  bool b;
  if (!f || f->get_bool().get(b)) return false;
  return b;
}
int loc(El e) { return static_cast<int>(num(e, "location", -1)); }
// A node is {"Type": {...}}.
std::pair<std::string_view, El> node(El e) {
  simdjson::dom::object o;
  if (e.get_object().get(o)) return {{}, e};
  for (auto kv : o) return {kv.key, kv.value};
  return {{}, e};
}
std::vector<El> list(std::optional<El> e) {
  std::vector<El> out;
  simdjson::dom::array a;
  if (!e) return out;
  if (e->get_array().get(a)) {
    // {"List": {"items": [...]}} (IN lists, BETWEEN bounds)
    simdjson::dom::object o;
    El l, items;
    if (e->get_object().get(o) || o["List"].get(l) || l["items"].get(items) || items.get_array().get(a)) return out;
  }
  for (El x : a) out.push_back(x);
  return out;
}
// {"String": {"sval": "x"}} -> x
std::string_view string_node(El e) {
  auto [t, b] = node(e);
  if (t == "String") return str(b, "sval");
  return {};
}
std::string last_name(std::optional<El> names) {
  auto l = list(names);
  return l.empty() ? std::string() : std::string(string_node(l.back()));
}

int char_position(std::string_view sql, int byte) {
  int n = 0;
  for (int k = 0; k < byte && k < static_cast<int>(sql.size()); ++k)
    if ((static_cast<unsigned char>(sql[static_cast<size_t>(k)]) & 0xC0) != 0x80) ++n;
  return n + 1;
}

std::optional<Type> sql_type(const std::string& n) {
  if (n == "int2" || n == "int4" || n == "int8" || n == "int" || n == "integer" || n == "bigint" || n == "smallint")
    return Type::int64;
  if (n == "float4" || n == "float8" || n == "numeric" || n == "real" || n == "decimal" || n == "double" || n == "float")
    return Type::float64;
  if (n == "bool" || n == "boolean") return Type::boolean;
  if (n == "text" || n == "varchar" || n == "bpchar" || n == "char" || n == "name" || n == "string") return Type::text;
  if (n == "timestamp" || n == "timestamptz" || n == "date") return Type::timestamp;
  if (n == "interval") return Type::interval;
  if (n == "json" || n == "jsonb") return Type::json;
  return std::nullopt;
}

// A table column's type from a CREATE TABLE / ALTER TABLE type name.
std::optional<tb::ColumnType> column_type(const std::string& n) {
  if (n == "tag") return tb::ColumnType::tag;
  if (n == "time" || n == "timestamp" || n == "timestamptz" || n == "datetime") return tb::ColumnType::time;
  if (n == "float4" || n == "float8" || n == "numeric" || n == "real" || n == "decimal" || n == "double" || n == "float")
    return tb::ColumnType::float64;
  if (n == "int2" || n == "int4" || n == "int8" || n == "int" || n == "integer" || n == "bigint" || n == "smallint" ||
      n == "long")
    return tb::ColumnType::int64;
  if (n == "bool" || n == "boolean") return tb::ColumnType::boolean;
  if (n == "text" || n == "varchar" || n == "bpchar" || n == "char" || n == "string") return tb::ColumnType::varchar;
  if (n == "json" || n == "jsonb") return tb::ColumnType::json;
  return std::nullopt;
}

// ---- plans -------------------------------------------------------------------------------------
struct ScopeColumn {
  std::string qualifier, name;
  Type type;
};

struct SelectPlan;

// The rows of a subquery in FROM, a CTE or a view. A subquery or CTE is bound with the query
// and runs when the query runs: streamed into the query that reads it when read once (its
// rows never all held), else collected into `chunks` once and kept (`filled`).
struct Materialized {
  std::vector<ColumnInfo> columns;
  std::vector<Chunk> chunks;
  std::shared_ptr<SelectPlan> plan;  // a subquery or CTE
  int uses = 0;                      // FROM items reading it
  bool filled = true;
};

struct Source {
  enum class Kind { one_row, table, rows } kind = Kind::one_row;
  std::string table;
  std::shared_ptr<const tb::Schema> schema;
  std::shared_ptr<Materialized> rows;
  std::vector<ScopeColumn> scope;
  // Pushdown (tables): the time range, and the tag equalities; several sets: their union.
  int64_t from = INT64_MIN, to = INT64_MAX;
  std::vector<std::vector<std::pair<std::string, std::string>>> tag_sets;
  std::vector<bool> needed;
  bool where_pushed = true;  // every condition of WHERE is a time range or a tag filter
  SummaryConsumer* summary = nullptr;  // takes blocks' statistics instead of their rows
  // Conditions on tags alone (name <> '', device LIKE 'a%'): decided once per series, so the
  // rest of the series is skipped, and the shortcuts stay on.
  std::vector<ExprPtr> series_filters;
  bool latest = false;       // read only each series' newest row (DISTINCT ON tags, time DESC)
};

struct SelectPlan {
  Source source;
  ExprPtr where;
  bool aggregate = false;
  std::vector<ExprPtr> keys;
  std::vector<ExprPtr> agg_exprs;   // the aggregate calls (bound on the source)
  std::vector<AggSpec> aggs;
  ExprPtr having;
  std::vector<ExprPtr> projections; // visible, then hidden sort keys
  std::vector<ColumnInfo> columns;  // the visible ones
  bool distinct = false;
  std::vector<int> distinct_on;
  std::vector<SortKey> sort;
  int64_t limit = -1, offset = 0;
  std::optional<GapfillSpec> gapfill;
  std::optional<FillSpec> fill;
  std::optional<SummarySpec> summary;  // aggregates that block statistics can answer
  bool streaming_groups = false;       // groups come one after another (make_aggregate)
  // Window functions (ExprKind::window, bound on the Window step's input: the source's rows, or
  // the aggregate's); the projections read their results as the columns after that input.
  std::vector<ExprPtr> windows;
};

struct StopScan {};

// The source's columns read after WHERE: the aggregate's keys and calls (their arguments and
// FILTERs), else the projections (window functions' arguments among them).
void mark_read_after_where(const SelectPlan& p, std::vector<bool>& read) {
  if (p.aggregate) {
    for (auto& k : p.keys) mark_columns(*k, read);
    for (auto& a : p.agg_exprs) mark_columns(*a, read);
  } else {
    for (auto& e : p.projections) mark_columns(*e, read);
  }
}

class Runner;

// ---- binding -----------------------------------------------------------------------------------
class Binder {
 public:
  Binder(std::string_view sql, tb::Tables* tables, SystemViews* views, ExecContext& ctx, const QueryOptions& opts)
      : sql_(sql), tables_(tables), views_(views), ctx_(ctx), opts_(opts) {}

  std::unique_ptr<SelectPlan> select(El stmt);
  ExprPtr expr(El e, const std::vector<ScopeColumn>& scope, bool allow_agg = true);
  ExprPtr fold(ExprPtr e);
  std::string column_name(El e);
  void run(SelectPlan& p, Operator& sink);
  std::shared_ptr<Materialized> materialize(El select_stmt);  // bound and run now (a sublink's rows)
  std::shared_ptr<Materialized> subquery(El select_stmt);     // bound now, run with the query

  std::map<std::string, std::shared_ptr<Materialized>> ctes;

 private:
  Source from(El stmt);
  ExprPtr rewrite_agg(const Expr& e, SelectPlan& p);
  void pushdown(SelectPlan& p);
  bool push_tag_sets(Source& s, const std::map<std::string, std::vector<std::string>>& tag_values);
  void scan(Source& s, Operator& next);
  void fill(Materialized& m);
  void stream(Materialized& m, Operator& first);
  ExprPtr bind_func(El body, const std::vector<ScopeColumn>& scope, bool allow_agg);
  ExprPtr bind_window(El body, El over, const std::vector<ScopeColumn>& scope, bool allow_agg);
  void bind_frame(El window_def, Expr& e, const std::vector<ScopeColumn>& scope);
  // An OVER clause's keys and frame, a named window's filled in.
  struct WindowParts {
    std::vector<El> partition, order;
    El frame;  // the WindowDef whose frameOptions and offsets apply
  };
  WindowParts window_parts(El window_def, bool definition);
  ExprPtr bind_aexpr(El body, const std::vector<ScopeColumn>& scope, bool allow_agg);
  ExprPtr sublink(El body, const std::vector<ScopeColumn>& scope, bool allow_agg);

  int64_t int_literal(El ival, int location) const;

  std::string_view sql_;
  tb::Tables* tables_;
  SystemViews* views_;
  ExecContext& ctx_;
  const QueryOptions& opts_;
  bool in_aggregate_ = false;
  bool in_window_ = false;
  const char* clause_ = "WHERE";  // where an aggregate is not allowed, for the error
  const char* no_window_ = nullptr;  // where aggregates are allowed but window functions not
  std::map<std::string, El> named_windows_;  // the WINDOW clause of the SELECT being bound
};

// PostgreSQL's window functions (those that are not also aggregates).
bool is_window_name(std::string_view n) {
  for (const char* w : {"row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
                        "first_value", "last_value", "nth_value"})
    if (n == w) return true;
  return false;
}

// libpg_query 15-4.0's JSON leaves out an integer constant's value when it is not positive
// ("ival": {} for both 0 and -1): read those from the query text at the constant's location.
int64_t Binder::int_literal(El ival, int location) const {
  auto f = field(ival, "ival");
  int64_t v;
  if (f && !f->get_int64().get(v)) return v;
  if (location < 0 || static_cast<size_t>(location) >= sql_.size()) return 0;
  std::string text;
  size_t p = static_cast<size_t>(location);
  if (sql_[p] == '-') text += sql_[p++];
  while (p < sql_.size() && std::isspace(static_cast<unsigned char>(sql_[p]))) ++p;
  while (p < sql_.size() && std::isdigit(static_cast<unsigned char>(sql_[p]))) text += sql_[p++];
  return std::strtoll(text.c_str(), nullptr, 10);
}

ExprPtr Binder::fold(ExprPtr e) {
  check_stack();
  if (!e) return e;
  if (e->kind == ExprKind::constant || e->has_columns()) {
    for (auto& a : e->args) a = fold(std::move(a));
    if (e->filter) e->filter = fold(std::move(e->filter));
    return e;
  }
  Chunk one;
  one.rows = 1;
  Vector v = eval(*e, one, ctx_.eval);
  Value val = v.get(0);
  val.type = e->type;
  auto c = make_constant(std::move(val), e->location);
  return c;
}

std::string Binder::column_name(El e) {
  auto [t, b] = node(e);
  if (t == "ColumnRef") {
    auto f = list(field(b, "fields"));
    if (!f.empty()) {
      auto s = string_node(f.back());
      if (!s.empty()) return std::string(s);
    }
    return "?column?";
  }
  if (t == "FuncCall") return last_name(field(b, "funcname"));
  if (t == "TypeCast") {
    auto a = field(b, "arg");
    std::string inner = a ? column_name(*a) : "?column?";
    if (inner != "?column?") return inner;
    auto tn = field(b, "typeName");
    return tn ? last_name(field(*tn, "names")) : inner;
  }
  if (t == "CaseExpr") return "case";
  if (t == "CoalesceExpr") return "coalesce";
  if (t == "MinMaxExpr") return str(b, "op") == "IS_GREATEST" ? "greatest" : "least";
  if (t == "A_Expr" && str(b, "kind") == "AEXPR_NULLIF") return "nullif";
  if (t == "SQLValueFunction") {
    std::string op(str(b, "op"));
    if (op.rfind("SVFOP_", 0) == 0) op = op.substr(6);
    for (auto& ch : op) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return op;
  }
  if (t == "SubLink") {
    if (str(b, "subLinkType") == "EXISTS_SUBLINK") return "exists";
    auto sub = field(b, "subselect");
    if (sub) {
      auto [st, sb] = node(*sub);
      auto tl = list(field(sb, "targetList"));
      if (tl.size() == 1) {
        auto [rt, rb] = node(tl[0]);
        if (auto n = str(rb, "name"); !n.empty()) return std::string(n);
        if (auto v = field(rb, "val")) return column_name(*v);
      }
    }
  }
  return "?column?";
}

ExprPtr Binder::bind_aexpr(El b, const std::vector<ScopeColumn>& scope, bool allow_agg) {
  std::string_view kind = str(b, "kind");
  std::string op = last_name(field(b, "name"));
  int location = loc(b);
  auto lexpr = field(b, "lexpr");
  auto rexpr = field(b, "rexpr");
  if (kind == "AEXPR_OP") {
    if (!lexpr) return make_unary(op, expr(*rexpr, scope, allow_agg), location);
    ExprPtr l = expr(*lexpr, scope, allow_agg), r = expr(*rexpr, scope, allow_agg);
    if (op == "~~" || op == "!~~" || op == "~~*" || op == "!~~*") {
      auto e = std::make_unique<Expr>();
      e->kind = ExprKind::like;
      e->type = Type::boolean;
      e->negate = op[0] == '!';
      e->ci = op.back() == '*';
      e->location = location;
      e->args.push_back(make_cast(std::move(l), Type::text, location));
      e->args.push_back(make_cast(std::move(r), Type::text, location));
      return e;
    }
    return make_operator(op, std::move(l), std::move(r), location);
  }
  if (kind == "AEXPR_LIKE" || kind == "AEXPR_ILIKE") {
    auto e = std::make_unique<Expr>();
    e->kind = ExprKind::like;
    e->type = Type::boolean;
    e->negate = op[0] == '!';
    e->ci = kind == "AEXPR_ILIKE";
    e->location = location;
    ExprPtr l = expr(*lexpr, scope, allow_agg), r = expr(*rexpr, scope, allow_agg);
    if (l->type != Type::text && !l->untyped && l->type != Type::null)
      fail("operator does not exist: " + std::string(type_name(l->type)) + " " + (e->ci ? "~~*" : "~~") + " unknown", location);
    e->args.push_back(make_cast(std::move(l), Type::text, location));
    e->args.push_back(make_cast(std::move(r), Type::text, location));
    return e;
  }
  if (kind == "AEXPR_IN") {
    auto e = std::make_unique<Expr>();
    e->kind = ExprKind::in_list;
    e->type = Type::boolean;
    e->negate = op == "<>";
    e->location = location;
    ExprPtr x = expr(*lexpr, scope, allow_agg);
    std::vector<ExprPtr> items;
    for (El it : list(rexpr)) items.push_back(expr(it, scope, allow_agg));
    // The common type: x's, unless x is an untyped literal.
    Type t = x->type;
    if (x->untyped || t == Type::null)
      for (auto& it : items)
        if (!it->untyped && it->type != Type::null) t = it->type;
    if (t == Type::null) t = Type::text;
    bool numeric_mix = is_numeric(t);
    for (auto& it : items)
      if (is_numeric(it->type) && it->type != t && numeric_mix) t = Type::float64;
    auto conv = [&](ExprPtr v) {
      if (v->type == t) return v;
      if (v->untyped || v->type == Type::null || (is_numeric(v->type) && is_numeric(t)))
        return cast_operand(std::move(v), t);
      fail("operator does not exist: " + std::string(type_name(t)) + " = " + std::string(type_name(v->type)), v->location);
    };
    e->args.push_back(conv(std::move(x)));
    for (auto& it : items) e->args.push_back(conv(std::move(it)));
    return e;
  }
  if (kind == "AEXPR_BETWEEN" || kind == "AEXPR_NOT_BETWEEN") {
    auto bounds = list(rexpr);
    if (bounds.size() != 2) fail("BETWEEN needs two bounds", location);
    ExprPtr x1 = expr(*lexpr, scope, allow_agg), x2 = expr(*lexpr, scope, allow_agg);
    auto lo = make_operator(">=", std::move(x1), expr(bounds[0], scope, allow_agg), location);
    auto hi = make_operator("<=", std::move(x2), expr(bounds[1], scope, allow_agg), location);
    auto e = std::make_unique<Expr>();
    e->kind = ExprKind::and_;
    e->type = Type::boolean;
    e->location = location;
    e->args.push_back(std::move(lo));
    e->args.push_back(std::move(hi));
    if (kind == "AEXPR_BETWEEN") return e;
    auto n = std::make_unique<Expr>();
    n->kind = ExprKind::not_;
    n->type = Type::boolean;
    n->location = location;
    n->args.push_back(std::move(e));
    return n;
  }
  if (kind == "AEXPR_NULLIF") {
    std::vector<ExprPtr> args;
    args.push_back(expr(*lexpr, scope, allow_agg));
    args.push_back(expr(*rexpr, scope, allow_agg));
    return make_function("nullif", std::move(args), location);
  }
  if (kind == "AEXPR_DISTINCT" || kind == "AEXPR_NOT_DISTINCT") {
    // a IS [NOT] DISTINCT FROM b: (a = b) with NULLs equal to each other.
    ExprPtr l1 = expr(*lexpr, scope, allow_agg), r1 = expr(*rexpr, scope, allow_agg);
    ExprPtr l2 = l1->clone(), r2 = r1->clone(), l3 = l1->clone(), r3 = r1->clone();
    auto isnull = [&](ExprPtr x, bool neg) {
      auto e = std::make_unique<Expr>();
      e->kind = ExprKind::is_null;
      e->type = Type::boolean;
      e->negate = neg;
      e->args.push_back(std::move(x));
      return e;
    };
    auto both = [&](ExprPtr a, ExprPtr c) {
      auto e = std::make_unique<Expr>();
      e->kind = ExprKind::and_;
      e->type = Type::boolean;
      e->args.push_back(std::move(a));
      e->args.push_back(std::move(c));
      return e;
    };
    // equal := (l IS NOT NULL AND r IS NOT NULL AND l = r) OR (l IS NULL AND r IS NULL)
    auto eq = make_operator("=", std::move(l1), std::move(r1), location);
    auto nn = both(isnull(std::move(l2), true), isnull(std::move(r2), true));
    auto e1 = both(std::move(nn), std::move(eq));
    auto e2 = both(isnull(std::move(l3), false), isnull(std::move(r3), false));
    auto o = std::make_unique<Expr>();
    o->kind = ExprKind::or_;
    o->type = Type::boolean;
    o->args.push_back(std::move(e1));
    o->args.push_back(std::move(e2));
    // (x AND y) with x false never NULL here; coalesce the OR's NULL to false.
    std::vector<ExprPtr> cargs;
    cargs.push_back(std::move(o));
    cargs.push_back(make_constant(Value::of_bool(false)));
    auto c = make_function("coalesce", std::move(cargs), location);
    if (kind == "AEXPR_NOT_DISTINCT") return c;
    auto n = std::make_unique<Expr>();
    n->kind = ExprKind::not_;
    n->type = Type::boolean;
    n->args.push_back(std::move(c));
    return n;
  }
  fail("operator kind " + std::string(kind) + " is not supported", location);
}

ExprPtr Binder::bind_func(El b, const std::vector<ScopeColumn>& scope, bool allow_agg) {
  std::string name = last_name(field(b, "funcname"));
  int location = loc(b);
  if (auto over = field(b, "over")) return bind_window(b, *over, scope, allow_agg);
  if (is_window_name(name)) fail("window function " + name + " requires an OVER clause", location);
  if (is_aggregate_name(name)) {
    if (!allow_agg) fail(std::string("aggregate functions are not allowed in ") + clause_, location);
    if (in_aggregate_) fail("aggregate function calls cannot be nested", location);
    in_aggregate_ = true;
    auto e = std::make_unique<Expr>();
    e->kind = ExprKind::aggregate;
    e->name = name == "mean" ? "avg" : name;
    e->location = location;
    e->distinct = flag(b, "agg_distinct");
    e->star = flag(b, "agg_star");
    auto args = list(field(b, "args"));
    for (El a : args) e->args.push_back(expr(a, scope, true));
    if (auto f = field(b, "agg_filter")) {
      e->filter = expr(*f, scope, true);
      if (e->filter->type != Type::boolean) fail("argument of FILTER must be type boolean", loc(*f));
    }
    bool within = flag(b, "agg_within_group");
    if (name == "percentile_cont" || name == "percentile_disc") {
      auto order = list(field(b, "agg_order"));
      if (!within || order.size() != 1 || e->args.size() != 1) {
        std::string sig;
        for (size_t k = 0; k < e->args.size(); ++k) sig += (k ? ", " : "") + std::string(type_name(e->args[k]->type));
        fail("function " + name + "(" + sig + ") does not exist", location);
      }
      auto [st, sb] = node(order[0]);
      ExprPtr x = expr(*field(sb, "node"), scope, true);
      if (!is_numeric(x->type)) fail("function " + name + "(" + std::string(type_name(x->type)) + ") does not exist", location);
      ExprPtr frac = make_cast(std::move(e->args[0]), Type::float64, location);
      e->args.clear();
      e->args.push_back(make_cast(std::move(x), Type::float64, location));
      e->args.push_back(std::move(frac));
      e->type = Type::float64;
    } else if (within) {
      fail("WITHIN GROUP is only for ordered-set aggregates (percentile_cont, percentile_disc)", location);
    } else if (e->star) {
      if (name != "count") fail("* is only for count(*)", location);
      e->type = Type::int64;
    } else if (name == "first" || name == "last") {
      if (e->args.size() != 2) {
        std::string sig;
        for (size_t k = 0; k < e->args.size(); ++k) sig += (k ? ", " : "") + std::string(type_name(e->args[k]->type));
        fail("function " + name + "(" + sig + ") does not exist", location);
      }
      if (e->args[1]->type != Type::timestamp && !e->args[1]->untyped)
        fail("function " + name + "(" + std::string(type_name(e->args[0]->type)) + ", " + std::string(type_name(e->args[1]->type)) +
                 ") does not exist",
             location);
      e->args[1] = make_cast(std::move(e->args[1]), Type::timestamp, location);
      e->type = e->args[0]->type;
    } else {
      if (e->args.size() != 1) {
        std::string sig;
        for (size_t k = 0; k < e->args.size(); ++k) sig += (k ? ", " : "") + std::string(type_name(e->args[k]->type));
        fail("function " + name + "(" + sig + ") does not exist", location);
      }
      if (e->args[0]->untyped) e->args[0] = make_cast(std::move(e->args[0]), name == "count" || name == "min" || name == "max" ? Type::text : Type::float64, location);
      if (e->args[0]->type == Type::null) e->args[0] = make_cast(std::move(e->args[0]), Type::float64, location);
      e->type = aggregate_type(e->name, e->args[0]->type, location);
    }
    in_aggregate_ = false;
    return e;
  }
  if (field(b, "agg_star")) fail("function " + name + "(*) does not exist", location);
  std::vector<ExprPtr> args;
  for (El a : list(field(b, "args"))) args.push_back(expr(a, scope, allow_agg));
  return make_function(name, std::move(args), location);
}

// fn(args) OVER (PARTITION BY ... ORDER BY ...): an ExprKind::window whose arguments and keys
// are bound like the select list's expressions (they may hold aggregates: the window then runs
// over the groups).
ExprPtr Binder::bind_window(El b, El over, const std::vector<ScopeColumn>& scope, bool allow_agg) {
  std::string name = last_name(field(b, "funcname"));
  if (name == "mean") name = "avg";
  int location = loc(b);
  if (!allow_agg || no_window_) fail(std::string("window functions are not allowed in ") + (no_window_ ? no_window_ : clause_), location);
  if (in_aggregate_) fail("aggregate function calls cannot contain window function calls", location);
  if (in_window_) fail("window function calls cannot be nested", location);
  auto [ot, ob] = node(over);
  WindowParts parts = window_parts(ot == "WindowDef" ? ob : over, false);
  bool aggregate = is_aggregate_name(name);
  if (!aggregate && !is_window_name(name)) {
    // PostgreSQL's words: an unknown function, or a known one that is neither.
    std::vector<ExprPtr> args;
    for (El a : list(field(b, "args"))) args.push_back(expr(a, scope, allow_agg));
    make_function(name, std::move(args), location);
    fail("OVER specified, but " + name + " is not a window function nor an aggregate function", location);
  }
  if (aggregate && name != "count" && name != "sum" && name != "avg" && name != "min" && name != "max")
    fail("aggregate function " + name + " is not supported as a window function", location);
  if (!aggregate && name != "row_number" && name != "rank" && name != "dense_rank" && name != "lag" && name != "lead" &&
      name != "first_value" && name != "last_value")
    fail("window function " + name + " is not supported", location);
  if (flag(b, "agg_distinct")) fail("DISTINCT is not implemented for window functions", location);
  if (field(b, "agg_order")) fail("aggregate ORDER BY is not implemented for window functions", location);

  in_window_ = true;
  auto e = std::make_unique<Expr>();
  e->kind = ExprKind::window;
  e->name = name;
  e->location = location;
  e->star = flag(b, "agg_star");
  for (El a : list(field(b, "args"))) e->args.push_back(expr(a, scope, allow_agg));
  auto& args = e->args;
  auto no_such = [&]() {
    std::string sig;
    for (size_t k = 0; k < args.size(); ++k) sig += (k ? ", " : "") + std::string(args[k]->untyped ? "unknown" : type_name(args[k]->type));
    fail("function " + name + "(" + (e->star ? "*" : sig) + ") does not exist", location);
  };
  // An untyped literal or NULL as a value: text, as PostgreSQL resolves unknown.
  auto as_value = [&](ExprPtr x) {
    if (x->untyped || x->type == Type::null) return make_cast(std::move(x), Type::text, location);
    return x;
  };
  if (auto f = field(b, "agg_filter")) {
    if (!aggregate) fail("FILTER is not implemented for non-aggregate window functions", location);
    e->filter = expr(*f, scope, allow_agg);
    if (e->filter->type != Type::boolean) fail("argument of FILTER must be type boolean", loc(*f));
  }
  if (name == "row_number" || name == "rank" || name == "dense_rank") {
    if (!args.empty() || e->star) no_such();
    e->type = Type::int64;
  } else if (name == "lag" || name == "lead") {
    if (args.empty() || args.size() > 3 || e->star) no_such();
    args[0] = as_value(std::move(args[0]));
    if (args.size() > 1) {
      if (args[1]->untyped || args[1]->type == Type::null) args[1] = make_cast(std::move(args[1]), Type::int64, location);
      if (args[1]->type != Type::int64) no_such();
    }
    if (args.size() > 2) {
      // lag(anycompatible, integer, anycompatible): the value and the default in one type.
      Type t = args[0]->type, d = args[2]->type;
      if (!args[2]->untyped && d != Type::null && d != t) {
        if (!is_numeric(t) || !is_numeric(d)) no_such();
        t = Type::float64;
        args[0] = make_cast(std::move(args[0]), t, location);
      }
      args[2] = make_cast(std::move(args[2]), t, location);
    }
    e->type = args[0]->type;
  } else if (name == "first_value" || name == "last_value") {
    if (args.size() != 1 || e->star) no_such();
    args[0] = as_value(std::move(args[0]));
    e->type = args[0]->type;
  } else if (e->star) {
    if (name != "count" || !args.empty()) no_such();
    e->type = Type::int64;
  } else {
    if (args.size() != 1) no_such();
    if (args[0]->untyped) args[0] = make_cast(std::move(args[0]), name == "count" || name == "min" || name == "max" ? Type::text : Type::float64, location);
    if (args[0]->type == Type::null) args[0] = make_cast(std::move(args[0]), Type::float64, location);
    e->type = aggregate_type(name, args[0]->type, location);
  }
  e->window_args = static_cast<int>(args.size());
  for (El x : parts.partition) {
    e->args.push_back(expr(x, scope, allow_agg));
    ++e->window_partitions;
  }
  for (El x : parts.order) {
    auto [st, sb] = node(x);
    if (str(sb, "sortby_dir") == "SORTBY_USING") fail("ORDER BY USING is not supported", loc(sb));
    bool desc = str(sb, "sortby_dir") == "SORTBY_DESC";
    std::string_view nulls = str(sb, "sortby_nulls");
    bool nulls_first = nulls == "SORTBY_NULLS_FIRST" || (nulls != "SORTBY_NULLS_LAST" && desc);
    e->args.push_back(expr(*field(sb, "node"), scope, allow_agg));
    e->window_order.push_back(static_cast<uint8_t>((desc ? 1 : 0) | (nulls_first ? 2 : 0)));
  }
  bind_frame(parts.frame, *e, scope);
  in_window_ = false;
  return e;
}

// OVER w takes w as it is; OVER (w ORDER BY ...) adds to w what w lacks, as PostgreSQL allows:
// w's PARTITION BY stays, an ORDER BY only where w has none, and w may have no frame.
Binder::WindowParts Binder::window_parts(El w, bool definition) {
  auto named = [&](std::string_view name) {
    auto it = named_windows_.find(std::string(name));
    if (it == named_windows_.end()) fail("window \"" + std::string(name) + "\" does not exist", loc(w));
    return it->second;
  };
  // In an OVER clause a name is a reference (OVER w); in the WINDOW clause, the name defined.
  if (auto name = str(w, "name"); !name.empty() && !definition) return window_parts(named(name), true);
  WindowParts parts;
  parts.partition = list(field(w, "partitionClause"));
  parts.order = list(field(w, "orderClause"));
  parts.frame = w;
  std::string_view ref = str(w, "refname");
  if (ref.empty()) return parts;
  El base_def = named(ref);
  WindowParts base = window_parts(base_def, true);
  std::string quoted = "\"" + std::string(ref) + "\"";
  if (!parts.partition.empty()) fail("cannot override PARTITION BY clause of window " + quoted, loc(w));
  if (!parts.order.empty() && !base.order.empty()) fail("cannot override ORDER BY clause of window " + quoted, loc(w));
  if (num(base_def, "frameOptions") & 1) fail("cannot copy window " + quoted + " because it has a frame clause", loc(w));
  parts.partition = base.partition;
  if (parts.order.empty()) parts.order = base.order;
  return parts;
}

// PostgreSQL's frameOptions bits (nodes/parsenodes.h).
enum FrameOption : uint32_t {
  kFrameNondefault = 0x1, kFrameRange = 0x2, kFrameRows = 0x4, kFrameGroups = 0x8,
  kFrameStartOffsetPreceding = 0x800, kFrameEndOffsetPreceding = 0x1000,
  kFrameStartOffsetFollowing = 0x2000, kFrameEndOffsetFollowing = 0x4000,
  kFrameExclusion = 0x8000 | 0x10000 | 0x20000,
};

// ROWS frames, and RANGE frames bounded by UNBOUNDED or CURRENT ROW, into e's window_frame and
// offsets. (PostgreSQL's grammar already refused the impossible ones: a frame ending before it
// starts, UNBOUNDED FOLLOWING as a start.)
void Binder::bind_frame(El w, Expr& e, const std::vector<ScopeColumn>& scope) {
  uint32_t f = static_cast<uint32_t>(num(w, "frameOptions"));
  if (!(f & kFrameNondefault)) return;
  int at = loc(w);
  bool offsets = f & (kFrameStartOffsetPreceding | kFrameEndOffsetPreceding | kFrameStartOffsetFollowing | kFrameEndOffsetFollowing);
  if (f & kFrameGroups) fail("frame clauses in GROUPS mode are not supported", at);
  if (f & kFrameExclusion) fail("frame exclusion (EXCLUDE) is not supported", at);
  if ((f & kFrameRange) && offsets) fail("RANGE with offset PRECEDING/FOLLOWING is not supported; use ROWS", at);
  auto offset = [&](const char* key, const char* which) -> int64_t {
    auto o = field(w, key);
    if (!o) return 0;
    ExprPtr x = fold(expr(*o, scope, false));
    if (x->untyped) x = cast_operand(std::move(x), Type::int64);
    if (x->kind != ExprKind::constant) fail("argument of ROWS must not contain variables", x->location);
    if (x->type != Type::int64 && x->type != Type::null)
      fail("argument of ROWS must be type bigint, not type " + std::string(type_name(x->type)), x->location);
    if (x->value.null) fail(std::string("frame ") + which + " offset must not be null");
    if (x->value.i < 0) fail(std::string("frame ") + which + " offset must not be negative");
    return x->value.i;
  };
  e.window_frame = f;
  e.frame_start = offset("startOffset", "starting");
  e.frame_end = offset("endOffset", "ending");
}

ExprPtr Binder::sublink(El b, const std::vector<ScopeColumn>& scope, bool allow_agg) {
  std::string_view type = str(b, "subLinkType");
  int location = loc(b);
  auto sub = field(b, "subselect");
  auto [st, sb] = node(*sub);
  auto m = materialize(sb);
  if (type == "EXISTS_SUBLINK") {
    bool any = false;
    for (auto& c : m->chunks) any |= c.rows > 0;
    return make_constant(Value::of_bool(any), location);
  }
  if (m->columns.size() != 1) fail("subquery must return only one column", location);
  if (type == "EXPR_SUBLINK") {
    size_t rows = 0;
    Value v = Value::make_null(m->columns[0].type);
    for (auto& c : m->chunks) {
      if (c.rows && rows == 0) v = c.columns[0].get(0);
      rows += c.rows;
    }
    if (rows > 1) fail("more than one row returned by a subquery used as an expression", location);
    v.type = m->columns[0].type;
    return make_constant(v, location);
  }
  if (type == "ANY_SUBLINK") {
    // x IN (SELECT ...): an IN list of the subquery's values (uncorrelated).
    auto e = std::make_unique<Expr>();
    e->kind = ExprKind::in_list;
    e->type = Type::boolean;
    e->location = location;
    std::string op = last_name(field(b, "operName"));
    if (!op.empty() && op != "=") fail("only = ANY (subquery) is supported", location);
    ExprPtr x = expr(*field(b, "testexpr"), scope, allow_agg);
    Type t = m->columns[0].type;
    if (x->type != t) {
      if (is_numeric(x->type) && is_numeric(t)) x = make_cast(std::move(x), Type::float64), t = Type::float64;
      else if (x->untyped) x = make_cast(std::move(x), t);
      else fail("operator does not exist: " + std::string(type_name(x->type)) + " = " + std::string(type_name(t)), location);
    }
    e->args.push_back(std::move(x));
    for (auto& c : m->chunks)
      for (size_t r = 0; r < c.rows; ++r) {
        Value v = c.columns[0].get(r);
        v.type = m->columns[0].type;
        e->args.push_back(make_cast(make_constant(v), t));
      }
    if (e->args.size() == 1) return make_constant(Value::of_bool(false), location);
    return e;
  }
  fail("this kind of subquery is not supported", location);
}

ExprPtr Binder::expr(El e, const std::vector<ScopeColumn>& scope, bool allow_agg) {
  check_stack();
  auto [t, b] = node(e);
  int location = loc(b);
  if (t == "ColumnRef") {
    auto fields = list(field(b, "fields"));
    std::string qual, name;
    if (fields.size() == 1) name = string_node(fields[0]);
    else if (fields.size() == 2) qual = string_node(fields[0]), name = string_node(fields[1]);
    else fail("improper qualified name (too many dotted names)", location);
    if (name.empty()) fail("* is not allowed here", location);
    int found = -1;
    for (size_t k = 0; k < scope.size(); ++k) {
      if (scope[k].name != name || (!qual.empty() && scope[k].qualifier != qual)) continue;
      if (found >= 0) fail("column reference \"" + name + "\" is ambiguous", location);
      found = static_cast<int>(k);
    }
    if (found < 0) {
      if (!qual.empty()) {
        bool known = false;
        for (auto& s : scope) known |= s.qualifier == qual;
        if (!known) fail("missing FROM-clause entry for table \"" + qual + "\"", location);
        fail("column " + qual + "." + name + " does not exist", location);
      }
      fail("column \"" + name + "\" does not exist", location);
    }
    const ScopeColumn& sc = scope[static_cast<size_t>(found)];
    return make_column(found, sc.type, sc.qualifier.empty() ? name : sc.qualifier + "." + name, location);
  }
  if (t == "A_Const") {
    if (flag(b, "isnull")) return make_constant(Value::make_null(), location);
    if (auto v = field(b, "ival")) return make_constant(Value::of_int(int_literal(*v, location)), location);
    if (auto v = field(b, "fval")) {
      std::string s(str(*v, "fval"));
      if (s.find_first_of(".eE") == std::string::npos) {
        errno = 0;
        char* end = nullptr;
        long long x = std::strtoll(s.c_str(), &end, 10);
        if (errno == 0 && end && *end == 0) return make_constant(Value::of_int(x), location);
      }
      return make_constant(Value::of_float(std::strtod(s.c_str(), nullptr)), location);
    }
    if (auto v = field(b, "sval")) {
      auto c = make_constant(Value::of_text(str(*v, "sval")), location);
      c->untyped = true;
      return c;
    }
    if (auto v = field(b, "boolval")) return make_constant(Value::of_bool(flag(*v, "boolval")), location);
    fail("unsupported constant", location);
  }
  if (t == "ParamRef") {
    int64_t n = num(b, "number");
    if (n < 1 || static_cast<size_t>(n) > opts_.params.size())
      fail("there is no parameter $" + std::to_string(n), location);
    const Value& v = opts_.params[static_cast<size_t>(n - 1)];
    auto c = make_constant(v, location);
    c->untyped = v.type == Type::text;  // a text parameter coerces like a literal
    return c;
  }
  if (t == "A_Expr") return bind_aexpr(b, scope, allow_agg);
  if (t == "BoolExpr") {
    std::string_view op = str(b, "boolop");
    auto out = std::make_unique<Expr>();
    out->kind = op == "AND_EXPR" ? ExprKind::and_ : op == "OR_EXPR" ? ExprKind::or_ : ExprKind::not_;
    out->type = Type::boolean;
    out->location = location;
    for (El a : list(field(b, "args"))) {
      ExprPtr x = expr(a, scope, allow_agg);
      if (x->untyped || x->type == Type::null) x = make_cast(std::move(x), Type::boolean);
      if (x->type != Type::boolean)
        fail("argument of " + std::string(op == "AND_EXPR" ? "AND" : op == "OR_EXPR" ? "OR" : "NOT") + " must be type boolean, not type " +
                 std::string(type_name(x->type)),
             x->location);
      out->args.push_back(std::move(x));
    }
    return out;
  }
  if (t == "NullTest") {
    auto out = std::make_unique<Expr>();
    out->kind = ExprKind::is_null;
    out->type = Type::boolean;
    out->negate = str(b, "nulltesttype") == "IS_NOT_NULL";
    out->location = location;
    out->args.push_back(expr(*field(b, "arg"), scope, allow_agg));
    return out;
  }
  if (t == "BooleanTest") {
    ExprPtr x = make_cast(expr(*field(b, "arg"), scope, allow_agg), Type::boolean, location);
    std::string_view bt = str(b, "booltesttype");
    auto mk = [](ExprKind k, bool neg = false) {
      auto e = std::make_unique<Expr>();
      e->kind = k;
      e->type = Type::boolean;
      e->negate = neg;
      return e;
    };
    if (bt == "IS_UNKNOWN" || bt == "IS_NOT_UNKNOWN") {
      auto e = mk(ExprKind::is_null, bt == "IS_NOT_UNKNOWN");
      e->args.push_back(std::move(x));
      return e;
    }
    bool want = bt == "IS_TRUE" || bt == "IS_NOT_TRUE";
    auto nn = mk(ExprKind::is_null, true);
    nn->args.push_back(x->clone());
    ExprPtr val = std::move(x);
    if (!want) {
      auto n = mk(ExprKind::not_);
      n->args.push_back(std::move(val));
      val = std::move(n);
    }
    auto a = mk(ExprKind::and_);
    a->args.push_back(std::move(nn));
    a->args.push_back(std::move(val));
    if (bt == "IS_TRUE" || bt == "IS_FALSE") return a;
    auto n = mk(ExprKind::not_);
    n->args.push_back(std::move(a));
    return n;
  }
  if (t == "FuncCall") {
    std::string name = last_name(field(b, "funcname"));
    return bind_func(b, scope, allow_agg);
  }
  if (t == "TypeCast") {
    auto tn = field(b, "typeName");
    std::string type = last_name(field(*tn, "names"));
    auto to = sql_type(type);
    if (!to) fail("type \"" + type + "\" does not exist", loc(*tn));
    ExprPtr x = expr(*field(b, "arg"), scope, allow_agg);
    int at = location >= 0 ? location : x->location;
    if (type == "date") {
      ExprPtr ts = make_cast(std::move(x), Type::timestamp, at);
      std::vector<ExprPtr> args;
      args.push_back(make_constant(Value::of_text("day")));
      args.push_back(std::move(ts));
      return make_function("date_trunc", std::move(args), at);
    }
    if (x->kind == ExprKind::constant && x->untyped && *to == Type::timestamp && !x->value.null) {
      int64_t ns;
      std::string err;
      if (!parse_timestamp(x->value.s, ctx_.eval.tz, &ns, &err)) fail(err, x->location);
      return make_constant(Value::of_time(ns), x->location);
    }
    return make_cast(std::move(x), *to, at);
  }
  if (t == "CaseExpr") {
    auto out = std::make_unique<Expr>();
    out->kind = ExprKind::case_;
    out->location = location;
    ExprPtr operand;
    if (auto a = field(b, "arg")) operand = expr(*a, scope, allow_agg), out->has_operand = true;
    std::vector<ExprPtr> whens, thens;
    for (El w : list(field(b, "args"))) {
      auto [wt, wb] = node(w);
      ExprPtr cond = expr(*field(wb, "expr"), scope, allow_agg);
      if (operand) {
        // Compare in a common type.
        ExprPtr probe = make_operator("=", operand->clone(), cond->clone(), loc(wb));
        cond = std::move(probe->args[1]);
        if (cond->type != operand->type) operand = make_cast(std::move(operand), cond->type);
      } else {
        if (cond->untyped) cond = make_cast(std::move(cond), Type::boolean);
        if (cond->type != Type::boolean)
          fail("argument of CASE/WHEN must be type boolean, not type " + std::string(type_name(cond->type)), cond->location);
      }
      whens.push_back(std::move(cond));
      thens.push_back(expr(*field(wb, "result"), scope, allow_agg));
    }
    ExprPtr otherwise;
    if (auto d = field(b, "defresult")) otherwise = expr(*d, scope, allow_agg), out->has_else = true;
    Type rt = Type::null;
    auto consider = [&](const ExprPtr& x) {
      if (!x || x->untyped || x->type == Type::null) return;
      if (rt == Type::null) rt = x->type;
      else if (rt != x->type) {
        if (is_numeric(rt) && is_numeric(x->type)) rt = Type::float64;
        else fail("CASE types " + std::string(type_name(rt)) + " and " + std::string(type_name(x->type)) + " cannot be matched", x->location);
      }
    };
    for (auto& x : thens) consider(x);
    consider(otherwise);
    if (rt == Type::null) rt = Type::text;
    out->type = rt;
    if (operand) out->args.push_back(std::move(operand));
    for (size_t k = 0; k < whens.size(); ++k) {
      out->args.push_back(std::move(whens[k]));
      out->args.push_back(make_cast(std::move(thens[k]), rt));
    }
    if (otherwise) out->args.push_back(make_cast(std::move(otherwise), rt));
    return out;
  }
  if (t == "CoalesceExpr" || t == "MinMaxExpr") {
    std::vector<ExprPtr> args;
    for (El a : list(field(b, "args"))) args.push_back(expr(a, scope, allow_agg));
    std::string fn = t == "CoalesceExpr" ? "coalesce" : str(b, "op") == "IS_GREATEST" ? "greatest" : "least";
    return make_function(fn, std::move(args), location);
  }
  if (t == "SQLValueFunction") {
    std::string_view op = str(b, "op");
    if (op.find("TIMESTAMP") != std::string_view::npos || op.find("TIME") != std::string_view::npos)
      return make_function("now", {}, location);
    if (op == "SVFOP_CURRENT_DATE") {
      std::vector<ExprPtr> args;
      args.push_back(make_constant(Value::of_text("day")));
      args.push_back(make_function("now", {}, location));
      return make_function("date_trunc", std::move(args), location);
    }
    fail("this SQL value function is not supported", location);
  }
  if (t == "SubLink") return sublink(b, scope, allow_agg);
  if (t == "ColumnRef" || t == "A_Star") fail("* is not allowed here", location);
  fail("expressions of kind " + std::string(t) + " are not supported", location);
}

// ---- SELECT ------------------------------------------------------------------------------------
std::shared_ptr<Materialized> Binder::subquery(El stmt) {
  auto m = std::make_shared<Materialized>();
  m->plan = select(stmt);
  m->columns = m->plan->columns;
  m->filled = false;
  return m;
}

std::shared_ptr<Materialized> Binder::materialize(El stmt) {
  auto m = subquery(stmt);
  fill(*m);
  return m;
}

// Runs m's plan and keeps its rows (the visible columns), once.
void Binder::fill(Materialized& m) {
  if (m.filled) return;
  Collector c(ctx_);
  bool stop = ctx_.stop;
  ctx_.stop = false;
  run(*m.plan, c);
  ctx_.stop = stop;
  for (auto& ch : c.chunks)
    if (ch.columns.size() > m.columns.size()) ch.columns.resize(m.columns.size());
  m.chunks = std::move(c.chunks);
  m.filled = true;
}

// Runs m's plan into `first`, the reading query's first operator, chunk by chunk. The two
// share the ExecContext, whose `stop` each side sets for itself: the inner query's LIMIT must
// not end the outer one, and an outer LIMIT that is satisfied ends the inner scan as well.
void Binder::stream(Materialized& m, Operator& first) {
  class Forward : public Operator {
   public:
    Forward(size_t width, ExecContext& ctx, Operator& next) : width_(width), ctx_(ctx), next_(next) {}
    void push(Chunk& c) override {
      if (outer_stop) {
        ctx_.stop = true;
        return;
      }
      if (c.columns.size() > width_) c.columns.resize(width_);  // only the visible columns
      for (auto& v : c.columns) v.expand();
      bool inner_stop = ctx_.stop;
      ctx_.stop = false;
      next_.push(c);
      outer_stop = ctx_.stop;
      ctx_.stop = inner_stop || outer_stop;
    }
    void finish() override {}  // the reading query finishes its operators itself
    bool outer_stop = false;

   private:
    size_t width_;
    ExecContext& ctx_;
    Operator& next_;
  };
  if (ctx_.stop) return;
  Forward f(m.columns.size(), ctx_, first);
  run(*m.plan, f);
  ctx_.stop = f.outer_stop;
}

Source Binder::from(El stmt) {
  Source s;
  auto items = list(field(stmt, "fromClause"));
  if (items.empty()) return s;
  if (items.size() > 1) fail("joins are not supported: name one table in FROM", loc(node(items[1]).second));
  auto [t, b] = node(items[0]);
  if (t == "RangeVar") {
    std::string name(str(b, "relname"));
    std::string alias = name;
    if (auto a = field(b, "alias")) alias = str(*a, "aliasname");
    if (!str(b, "schemaname").empty() && str(b, "schemaname") != "public")
      fail("relation \"" + std::string(str(b, "schemaname")) + "." + name + "\" does not exist", loc(b));
    if (auto it = ctes.find(name); it != ctes.end()) {
      s.kind = Source::Kind::rows;
      s.rows = it->second;
      ++s.rows->uses;
    } else {
      std::vector<ColumnInfo> cols;
      Chunk rows;
      if (views_ && views_->snapshot(name, cols, rows)) {
        s.kind = Source::Kind::rows;
        s.rows = std::make_shared<Materialized>();
        s.rows->columns = cols;
        rows.rows = rows.columns.empty() ? 0 : rows.columns[0].size;
        if (rows.rows) s.rows->chunks.push_back(std::move(rows));
      } else {
        bool lower = std::none_of(name.begin(), name.end(), [](char ch) { return std::isupper(static_cast<unsigned char>(ch)); });
        auto schema = tables_ && lower ? tables_->schema(name) : nullptr;
        if (!schema) fail("relation \"" + name + "\" does not exist", loc(b));
        s.kind = Source::Kind::table;
        s.table = name;
        s.schema = schema;
        for (auto& c : schema->columns) s.scope.push_back({alias, c.name, query_type(c.type)});
        s.needed.assign(schema->columns.size(), false);
        return s;
      }
    }
    for (auto& c : s.rows->columns) s.scope.push_back({alias, c.name, c.type});
    return s;
  }
  if (t == "RangeSubselect") {
    auto a = field(b, "alias");
    if (!a) fail("subquery in FROM must have an alias", loc(b));
    std::string alias(str(*a, "aliasname"));
    auto [st, sb] = node(*field(b, "subquery"));
    s.kind = Source::Kind::rows;
    s.rows = subquery(sb);
    s.rows->uses = 1;
    auto names = list(field(*a, "colnames"));
    for (size_t k = 0; k < s.rows->columns.size(); ++k) {
      std::string n = k < names.size() ? std::string(string_node(names[k])) : s.rows->columns[k].name;
      s.scope.push_back({alias, n, s.rows->columns[k].type});
    }
    return s;
  }
  if (t == "JoinExpr") fail("joins are not supported: name one table in FROM", loc(b));
  if (t == "RangeFunction") fail("functions in FROM are not supported", loc(b));
  fail("this FROM item is not supported", loc(b));
}

ExprPtr Binder::rewrite_agg(const Expr& e, SelectPlan& p) {
  for (size_t k = 0; k < p.keys.size(); ++k)
    if (e.same(*p.keys[k])) return make_column(static_cast<int>(k), e.type, e.name, e.location);
  if (e.kind == ExprKind::aggregate) {
    for (size_t k = 0; k < p.agg_exprs.size(); ++k)
      if (e.same(*p.agg_exprs[k])) return make_column(static_cast<int>(p.keys.size() + k), e.type, e.name, e.location);
    p.agg_exprs.push_back(e.clone());
    return make_column(static_cast<int>(p.keys.size() + p.agg_exprs.size() - 1), e.type, e.name, e.location);
  }
  if (e.kind == ExprKind::column)
    fail("column \"" + e.name + "\" must appear in the GROUP BY clause or be used in an aggregate function", e.location);
  auto out = e.clone();
  for (size_t k = 0; k < e.args.size(); ++k) out->args[k] = rewrite_agg(*e.args[k], p);
  if (e.filter) out->filter = rewrite_agg(*e.filter, p);  // a window aggregate's FILTER
  return out;
}

bool is_named_func(El e, std::string_view name) {
  auto [t, b] = node(e);
  return t == "FuncCall" && last_name(field(b, "funcname")) == name;
}

std::unique_ptr<SelectPlan> Binder::select(El stmt) {
  check_stack();
  if (str(stmt, "op") != "" && str(stmt, "op") != "SETOP_NONE")
    fail("UNION, INTERSECT and EXCEPT are not supported");
  if (field(stmt, "valuesLists")) fail("VALUES lists are only supported in INSERT");
  if (field(stmt, "intoClause")) fail("SELECT INTO is not supported");
  if (auto w = field(stmt, "withClause")) {
    if (flag(*w, "recursive")) fail("WITH RECURSIVE is not supported", loc(*w));
    for (El c : list(field(*w, "ctes"))) {
      auto [ct, cb] = node(c);
      std::string name(str(cb, "ctename"));
      auto [qt, qb] = node(*field(cb, "ctequery"));
      if (qt != "SelectStmt") fail("WITH queries must be SELECT", loc(cb));
      auto m = subquery(qb);
      auto names = list(field(cb, "aliascolnames"));
      for (size_t k = 0; k < names.size() && k < m->columns.size(); ++k) m->columns[k].name = string_node(names[k]);
      ctes[name] = m;
    }
  }
  // WINDOW name AS (...): the OVER clauses of this SELECT (not of its subqueries) may name them.
  struct SaveWindows {
    std::map<std::string, El>& live;
    std::map<std::string, El> saved;
    ~SaveWindows() { live = std::move(saved); }
  } save_windows{named_windows_, std::move(named_windows_)};
  named_windows_.clear();
  for (El d : list(field(stmt, "windowClause"))) {
    auto [dt, db] = node(d);
    std::string name(str(db, "name"));
    if (named_windows_.count(name)) fail("window \"" + name + "\" is already defined", loc(db));
    window_parts(db, true);  // its reference, if any, must hold
    named_windows_.emplace(name, db);
  }
  auto p = std::make_unique<SelectPlan>();
  p->source = from(stmt);
  const auto& scope = p->source.scope;

  if (auto w = field(stmt, "whereClause")) {
    p->where = fold(expr(*w, scope, false));
    if (p->where->untyped) p->where = make_cast(std::move(p->where), Type::boolean);
    if (p->where->type != Type::boolean)
      fail("argument of WHERE must be type boolean, not type " + std::string(type_name(p->where->type)), p->where->location);
  }

  // The select list, with * expanded; names; markers for gap filling.
  struct Target {
    ExprPtr e;
    std::string name;
    int fill = 0;  // 1: locf, 2: interpolate
    El node_el;
    bool has_node = false;
  };
  std::vector<Target> targets;
  for (El rt : list(field(stmt, "targetList"))) {
    auto [tt, tb2] = node(rt);
    auto val = field(tb2, "val");
    std::string alias(str(tb2, "name"));
    auto [vt, vb] = node(*val);
    if (vt == "ColumnRef") {
      auto f = list(field(vb, "fields"));
      bool star = !f.empty() && node(f.back()).first == "A_Star";
      if (star) {
        std::string qual = f.size() == 2 ? std::string(string_node(f[0])) : "";
        bool any = false;
        for (size_t k = 0; k < scope.size(); ++k) {
          if (!qual.empty() && scope[k].qualifier != qual) continue;
          targets.push_back({make_column(static_cast<int>(k), scope[k].type, scope[k].name), scope[k].name, 0, {}, false});
          any = true;
        }
        if (!qual.empty() && !any) fail("missing FROM-clause entry for table \"" + qual + "\"", loc(vb));
        if (qual.empty() && p->source.kind == Source::Kind::one_row) fail("SELECT * with no tables specified is not valid", loc(vb));
        continue;
      }
    }
    Target t;
    El inner = *val;
    if (is_named_func(inner, "locf") || is_named_func(inner, "interpolate")) {
      t.fill = is_named_func(inner, "locf") ? 1 : 2;
      auto args = list(field(node(inner).second, "args"));
      if (args.size() != 1) fail("locf and interpolate take one argument", loc(vb));
      inner = args[0];
    }
    t.e = expr(inner, scope, true);
    t.name = alias.empty() ? (t.fill ? (t.fill == 1 ? "locf" : "interpolate") : column_name(*val)) : alias;
    t.node_el = *val;
    t.has_node = true;
    targets.push_back(std::move(t));
  }

  // GROUP BY: an ordinal, an output name, or an expression on the source.
  auto groups = list(field(stmt, "groupClause"));
  auto resolve_output = [&](El e, const char* clause) -> std::optional<size_t> {
    auto [t, b] = node(e);
    if (t == "A_Const" && field(b, "ival")) {
      int64_t n = num(*field(b, "ival"), "ival");
      if (n < 1 || static_cast<size_t>(n) > targets.size())
        fail(std::string(clause) + " position " + std::to_string(n) + " is not in select list", loc(b));
      return static_cast<size_t>(n - 1);
    }
    if (t == "ColumnRef") {
      auto f = list(field(b, "fields"));
      if (f.size() == 1) {
        std::string n(string_node(f[0]));
        bool in_source = false;
        for (auto& s : scope) in_source |= s.name == n;
        // ORDER BY prefers output names; GROUP BY prefers source columns (as PostgreSQL).
        bool prefer_output = std::string_view(clause) == "ORDER BY";
        if (prefer_output || !in_source) {
          std::optional<size_t> hit;
          for (size_t k = 0; k < targets.size(); ++k)
            if (targets[k].name == n) {
              if (hit && prefer_output && !targets[*hit].e->same(*targets[k].e))
                fail(std::string(clause) + " \"" + n + "\" is ambiguous", loc(b));
              if (!hit) hit = k;
            }
          if (hit) return hit;
        }
      }
    }
    return std::nullopt;
  };
  for (El g : groups) {
    if (auto k = resolve_output(g, "GROUP BY")) {
      if (targets[*k].e->has_aggregates()) fail("aggregate functions are not allowed in GROUP BY", targets[*k].e->location);
      if (targets[*k].e->has_windows()) fail("window functions are not allowed in GROUP BY", targets[*k].e->location);
      p->keys.push_back(fold(targets[*k].e->clone()));
    } else {
      clause_ = "GROUP BY";
      auto e = expr(g, scope, false);
      clause_ = "WHERE";
      p->keys.push_back(fold(std::move(e)));
    }
  }
  bool has_agg = !groups.empty();
  for (auto& t : targets) has_agg |= t.e->has_aggregates();
  auto having_el = field(stmt, "havingClause");
  ExprPtr having;
  if (having_el) {
    no_window_ = "HAVING";
    having = expr(*having_el, scope, true);
    no_window_ = nullptr;
    has_agg = true;
  }

  // ORDER BY items resolved now (they may add aggregates).
  struct Order {
    std::optional<size_t> target;
    ExprPtr e;
    bool desc, nulls_first;
    int location = -1;
  };
  std::vector<Order> orders;
  for (El s : list(field(stmt, "sortClause"))) {
    auto [st, sb] = node(s);
    Order o;
    o.desc = str(sb, "sortby_dir") == "SORTBY_DESC";
    std::string_view nulls = str(sb, "sortby_nulls");
    o.nulls_first = nulls == "SORTBY_NULLS_FIRST" || (nulls != "SORTBY_NULLS_LAST" && o.desc);
    if (str(sb, "sortby_dir") == "SORTBY_USING") fail("ORDER BY USING is not supported", loc(sb));
    El n = *field(sb, "node");
    o.target = resolve_output(n, "ORDER BY");
    if (!o.target) {
      o.e = expr(n, scope, true);
      has_agg |= o.e->has_aggregates();
    }
    orders.push_back(std::move(o));
  }

  // DISTINCT / DISTINCT ON.
  auto distinct = list(field(stmt, "distinctClause"));
  std::vector<Order> distinct_on;
  if (!distinct.empty()) {
    bool plain = distinct.size() == 1 && node(distinct[0]).first.empty();
    if (plain) {
      simdjson::dom::object o;
      plain = !distinct[0].get_object().get(o) && o.size() == 0;
    }
    if (plain) p->distinct = true;
    else
      for (El d : distinct) {
        Order o;
        o.desc = false;
        o.nulls_first = false;
        o.location = loc(node(d).second);
        o.target = resolve_output(d, "ORDER BY");
        if (!o.target) o.e = expr(d, scope, true);
        distinct_on.push_back(std::move(o));
      }
  }

  p->aggregate = has_agg;
  std::vector<ExprPtr> projections;
  if (has_agg) {
    for (auto& t : targets) t.e = rewrite_agg(*fold(std::move(t.e)), *p);
    if (having) {
      p->having = fold(rewrite_agg(*fold(std::move(having)), *p));
      if (p->having->type != Type::boolean)
        fail("argument of HAVING must be type boolean, not type " + std::string(type_name(p->having->type)), p->having->location);
    }
    for (auto& o : orders)
      if (o.e) o.e = rewrite_agg(*fold(std::move(o.e)), *p);
    for (auto& o : distinct_on)
      if (o.e) o.e = rewrite_agg(*fold(std::move(o.e)), *p);
    for (auto& a : p->agg_exprs) {
      AggSpec s;
      s.fn = a->name;
      s.distinct = a->distinct;
      s.type = a->type;
      if (!a->star) s.arg = a->args[0].get();
      if (a->args.size() > 1) s.arg2 = a->args[1].get();
      if (a->filter) s.filter = a->filter.get();
      p->aggs.push_back(s);
    }
  } else {
    for (auto& t : targets) t.e = fold(std::move(t.e));
    for (auto& o : orders)
      if (o.e) o.e = fold(std::move(o.e));
    for (auto& o : distinct_on)
      if (o.e) o.e = fold(std::move(o.e));
  }
  for (auto& t : targets) {
    Type ty = t.e->type == Type::null ? Type::text : t.e->type;
    if (t.e->type == Type::null) t.e = make_cast(std::move(t.e), Type::text);
    p->columns.push_back({t.name, ty});
    p->projections.push_back(std::move(t.e));
  }
  // ORDER BY and DISTINCT ON keys not in the select list become hidden columns.
  auto key_column = [&](Order& o) -> int {
    if (o.target) return static_cast<int>(*o.target);
    for (size_t k = 0; k < p->projections.size(); ++k)
      if (p->projections[k]->same(*o.e)) return static_cast<int>(k);
    if (p->distinct) fail("for SELECT DISTINCT, ORDER BY expressions must appear in select list", o.e->location);
    p->projections.push_back(std::move(o.e));
    return static_cast<int>(p->projections.size() - 1);
  };
  for (auto& o : orders) p->sort.push_back({key_column(o), o.desc, o.nulls_first});
  int distinct_location = distinct_on.empty() ? -1 : distinct_on[0].location;
  for (auto& o : distinct_on) p->distinct_on.push_back(key_column(o));
  if (!p->distinct_on.empty()) {
    for (size_t k = 0; k < p->sort.size() && k < p->distinct_on.size(); ++k)
      if (p->sort[k].column != p->distinct_on[k])
        fail("SELECT DISTINCT ON expressions must match initial ORDER BY expressions", distinct_location);
    if (p->sort.size() < p->distinct_on.size()) {
      // Sorted by the DISTINCT ON keys (PostgreSQL does the same).
      for (size_t k = p->sort.size(); k < p->distinct_on.size(); ++k) p->sort.push_back({p->distinct_on[k], false, false});
    }
  }

  // LIMIT / OFFSET: constants.
  auto int_clause = [&](const char* key, const char* what) -> int64_t {
    auto c = field(stmt, key);
    if (!c) return -1;
    clause_ = what;
    ExprPtr e = fold(expr(*c, {}, false));
    clause_ = "WHERE";
    if (e->kind != ExprKind::constant) fail(std::string("argument of ") + what + " must not contain variables", e->location);
    if (e->value.null) return -1;
    if (e->untyped || e->type == Type::float64) e = make_cast(std::move(e), Type::int64);
    if (e->type != Type::int64) fail(std::string("argument of ") + what + " must be type bigint, not type " + std::string(type_name(e->type)), e->location);
    if (e->value.i < 0) fail(std::string(what) + " must not be negative");
    return e->value.i;
  };
  bool has_windows = std::any_of(p->projections.begin(), p->projections.end(), [](const ExprPtr& e) { return e->has_windows(); });
  p->limit = int_clause("limitCount", "LIMIT");
  int64_t off = int_clause("limitOffset", "OFFSET");
  p->offset = off < 0 ? 0 : off;

  // Which source columns are read.
  if (p->source.kind == Source::Kind::table) {
    pushdown(*p);  // first: what it leaves of WHERE is what the rows are filtered by
    if (p->where) mark_columns(*p->where, p->source.needed);
    mark_read_after_where(*p, p->source.needed);
  }

  // The latest row per series: DISTINCT ON (tags) ... ORDER BY tags, time DESC over a table,
  // with WHERE only on time and tags, needs only each series' newest row (Tables reads it
  // from the heads and the newest blocks instead of scanning).
  // (Not under window functions: they need every row.)
  if (p->source.kind == Source::Kind::table && !p->aggregate && !p->distinct && !p->distinct_on.empty() && !has_windows &&
      p->source.where_pushed && p->sort.size() > p->distinct_on.size()) {
    auto is_col = [&](int proj, tb::ColumnType type) {
      const Expr& e = *p->projections[static_cast<size_t>(proj)];
      return e.kind == ExprKind::column && p->source.schema->columns[static_cast<size_t>(e.column)].type == type;
    };
    bool ok = true;
    for (int d : p->distinct_on) ok = ok && is_col(d, tb::ColumnType::tag);
    const SortKey& next = p->sort[p->distinct_on.size()];
    ok = ok && next.desc && is_col(next.column, tb::ColumnType::time);
    p->source.latest = ok;
  }

  // Aggregates from block statistics: group keys that are tags, plain count/sum/avg/min/max,
  // and a WHERE that the scan answers by itself (time range, tags).
  if (p->source.kind == Source::Kind::table && p->aggregate && p->source.where_pushed) {
    const tb::Schema& sc = *p->source.schema;
    std::vector<int> tags = sc.tag_indexes(), fields = sc.field_indexes();
    auto position = [](const std::vector<int>& v, int c) {
      auto it = std::find(v.begin(), v.end(), c);
      return it == v.end() ? -1 : static_cast<int>(it - v.begin());
    };
    SummarySpec sum;
    bool ok = true;
    for (auto& k : p->keys) {
      int t = k->kind == ExprKind::column ? position(tags, k->column) : -1;
      ok = ok && t >= 0;
      sum.key_tags.push_back(t);
    }
    for (auto& a : p->aggs) {
      bool fn_ok = a.fn == "count" || a.fn == "sum" || a.fn == "avg" || a.fn == "min" || a.fn == "max";
      ok = ok && fn_ok && !a.distinct && !a.filter;
      if (!a.arg) {
        sum.agg_fields.push_back(-1);
        ok = ok && a.fn == "count";
        continue;
      }
      int f = a.arg->kind == ExprKind::column ? position(fields, a.arg->column) : -1;
      ok = ok && f >= 0 && (a.arg->type == Type::float64 || a.arg->type == Type::int64);
      sum.agg_fields.push_back(f);
    }
    if (ok) p->summary = std::move(sum);
  }

  // Groups that come one after another. A table scan gives each series' rows together and in
  // time order, so when the keys hold every tag of the table (a group never spans two series)
  // and otherwise only the time or a bucket of it (time_bucket, date_trunc: never decreasing
  // with time), a group's rows are consecutive and it never comes back once the keys change:
  // the aggregate puts each group out as the next begins, with no table of groups. (One tag
  // set at most: several are several scans.)
  if (p->source.kind == Source::Kind::table && p->aggregate && !p->summary && !p->keys.empty() &&
      p->source.tag_sets.size() <= 1) {
    const tb::Schema& sc = *p->source.schema;
    const int time_col = sc.time_index();
    auto is_time = [&](const Expr& e) { return e.kind == ExprKind::column && e.column == time_col; };
    std::vector<bool> tag_keyed(sc.columns.size(), false);
    bool ok = true;
    for (auto& k : p->keys) {
      if (k->kind == ExprKind::column && k->column >= 0 &&
          sc.columns[static_cast<size_t>(k->column)].type == tb::ColumnType::tag) {
        tag_keyed[static_cast<size_t>(k->column)] = true;
        continue;
      }
      if (is_time(*k)) continue;
      bool bucket = k->kind == ExprKind::call && (k->name == "time_bucket" || k->name == "date_trunc");
      int times = 0;
      for (auto& a : k->args) {
        if (is_time(*a)) ++times;
        else if (a->kind != ExprKind::constant) bucket = false;
      }
      ok = ok && bucket && times == 1;
    }
    for (int t : sc.tag_indexes()) ok = ok && tag_keyed[static_cast<size_t>(t)];
    p->streaming_groups = ok;
  }

  // Gap filling: GROUP BY time_bucket_gapfill(...).
  for (size_t k = 0; k < p->keys.size(); ++k) {
    const Expr& key = *p->keys[k];
    if (key.kind != ExprKind::call || key.name != "time_bucket_gapfill") continue;
    GapfillSpec g;
    if (key.args[0]->kind != ExprKind::constant || key.args[0]->value.null)
      fail("time_bucket_gapfill's bucket width must be a constant", key.location);
    g.width = key.args[0]->value.i;
    if (g.width <= 0) fail("interval must be greater than zero", key.location);
    g.start = p->source.from;
    g.finish = p->source.to;
    if (key.args.size() > 2 && key.args[2]->kind == ExprKind::constant && !key.args[2]->value.null) g.start = key.args[2]->value.i;
    if (key.args.size() > 3 && key.args[3]->kind == ExprKind::constant && !key.args[3]->value.null) g.finish = key.args[3]->value.i;
    if (g.start == INT64_MIN) fail("missing time_bucket_gapfill argument: could not infer start from WHERE clause");
    if (g.finish == INT64_MAX) fail("missing time_bucket_gapfill argument: could not infer finish from WHERE clause");
    if ((g.finish - g.start) / g.width > 10'000'000) fail("time_bucket_gapfill would make more than 10,000,000 buckets", key.location);
    g.bucket = static_cast<int>(k);
    for (auto& kk : p->keys) g.types.push_back(kk->type);
    for (auto& a : p->aggs) g.types.push_back(a.type);
    for (size_t j = 0; j < p->keys.size(); ++j)
      if (j != k) g.groups.push_back(static_cast<int>(j));
    // The fill step after the projection reads the group number, the added flag and the
    // bucket from hidden columns.
    int width = static_cast<int>(p->keys.size() + p->agg_exprs.size());
    FillSpec f;
    f.group = static_cast<int>(p->projections.size());
    p->projections.push_back(make_column(width, Type::int64, "gapfill group"));
    f.added = static_cast<int>(p->projections.size());
    p->projections.push_back(make_column(width + 1, Type::boolean, "gapfill added"));
    f.time = static_cast<int>(p->projections.size());
    p->projections.push_back(make_column(static_cast<int>(k), Type::timestamp, "gapfill bucket"));
    for (size_t j = 0; j < targets.size(); ++j) {
      if (targets[j].fill == 1) f.locf.push_back(static_cast<int>(j));
      if (targets[j].fill == 2) f.interpolate.push_back(static_cast<int>(j));
    }
    p->fill = f;
    p->gapfill = g;
  }
  for (auto& t : targets)
    if (t.fill && !p->gapfill) fail(std::string(t.fill == 1 ? "locf" : "interpolate") + " is only allowed with time_bucket_gapfill");

  // Window functions: the Window step computes each distinct one on the rows the projection
  // gets, and appends its result after their columns; the projection reads it from there.
  if (has_windows) {
    // locf and interpolate read each gap-filled group's rows in bucket order, which a window's
    // sort does not keep.
    if (p->fill && (!p->fill->locf.empty() || !p->fill->interpolate.empty()))
      fail("locf and interpolate cannot be combined with window functions");
    size_t width = p->aggregate ? p->keys.size() + p->agg_exprs.size() + (p->gapfill ? 2 : 0) : scope.size();
    std::function<ExprPtr(ExprPtr)> lift = [&](ExprPtr e) -> ExprPtr {
      if (e->kind != ExprKind::window) {
        for (auto& a : e->args) a = lift(std::move(a));
        return e;
      }
      size_t k = 0;
      while (k < p->windows.size() && !p->windows[k]->same(*e)) ++k;
      if (k == p->windows.size()) p->windows.push_back(e->clone());
      return make_column(static_cast<int>(width + k), e->type, e->name, e->location);
    };
    for (auto& e : p->projections) e = lift(std::move(e));
  }
  return p;
}

// A window expression's frame as the Window step takes it.
WindowFrame window_frame(const Expr& w) {
  using B = WindowFrame::Bound;
  WindowFrame fr;
  uint32_t f = w.window_frame;
  if (!(f & kFrameNondefault)) return fr;
  // The bounds' bits, start then end: UNBOUNDED PRECEDING 0x20 / 0x40, UNBOUNDED FOLLOWING
  // 0x80 / 0x100, CURRENT ROW 0x200 / 0x400, offset PRECEDING 0x800 / 0x1000, offset
  // FOLLOWING 0x2000 / 0x4000.
  auto bound = [&](uint32_t unbounded_preceding, uint32_t unbounded_following, uint32_t current, uint32_t preceding) {
    if (f & (unbounded_preceding | unbounded_following)) return B::unbounded;
    if (f & current) return B::current;
    if (f & preceding) return B::preceding;
    return B::following;
  };
  fr.rows = (f & kFrameRows) != 0;
  fr.start = bound(0x20, 0x80, 0x200, kFrameStartOffsetPreceding);
  fr.end = bound(0x40, 0x100, 0x400, kFrameEndOffsetPreceding);
  fr.start_offset = w.frame_start;
  fr.end_offset = w.frame_end;
  return fr;
}

// The Window step's specs: pointers into the plan's window expressions.
std::vector<WindowSpec> window_specs(const SelectPlan& p) {
  std::vector<WindowSpec> specs;
  for (auto& w : p.windows) {
    WindowSpec s;
    s.fn = w->name;
    s.type = w->type;
    s.filter = w->filter.get();
    size_t order_from = static_cast<size_t>(w->window_args + w->window_partitions);
    for (size_t k = 0; k < w->args.size(); ++k) {
      const Expr* a = w->args[k].get();
      if (k < static_cast<size_t>(w->window_args)) s.args.push_back(a);
      else if (k < order_from) s.partition.push_back(a);
      else {
        uint8_t dir = w->window_order[k - order_from];
        s.order.push_back(a);
        s.order_keys.push_back({0, (dir & 1) != 0, (dir & 2) != 0});
      }
    }
    s.frame = window_frame(*w);
    specs.push_back(std::move(s));
  }
  return specs;
}

// Time ranges and tag equalities from the WHERE's top-level AND into the scan. A condition
// the scan answers exactly (a time bound, a tag's values it looks up, a condition on tags only,
// evaluated once per series) leaves WHERE: its rows are filtered by the rest only.
void Binder::pushdown(SelectPlan& p) {
  if (!p.where) return;
  Source& s = p.source;
  int time_col = s.schema->time_index();
  std::vector<const Expr*> conj;
  std::function<void(const Expr&)> flatten = [&](const Expr& e) {
    if (e.kind == ExprKind::and_)
      for (auto& a : e.args) flatten(*a);
    else
      conj.push_back(&e);
  };
  flatten(*p.where);
  std::map<std::string, std::vector<std::string>> tag_values;  // column -> allowed values (intersected)
  std::vector<const Expr*> answered, tag_conj;  // answered by the scan; tag equalities and INs
  for (const Expr* c : conj) {
    bool pushed = false;
    struct Mark {
      bool& all;
      bool& one;
      ~Mark() { all = all && one; }
    } mark{s.where_pushed, pushed};
    if (c->kind == ExprKind::call && c->args.size() == 2) {
      const Expr* l = c->args[0].get();
      const Expr* r = c->args[1].get();
      std::string op = c->name;
      if (l->kind == ExprKind::constant && r->kind == ExprKind::column) {
        std::swap(l, r);
        if (op == "<") op = ">";
        else if (op == ">") op = "<";
        else if (op == "<=") op = ">=";
        else if (op == ">=") op = "<=";
      }
      if (l->kind != ExprKind::column || r->kind != ExprKind::constant || r->value.null) continue;
      if (l->column == time_col && r->type == Type::timestamp) {
        pushed = op == ">=" || op == ">" || op == "<" || op == "<=" || op == "=";
        int64_t v = r->value.i;
        if (op == ">=" || op == "<" || (pushed && v < INT64_MAX)) answered.push_back(c);
        if (op == ">=") s.from = std::max(s.from, v);
        else if (op == ">" && v < INT64_MAX) s.from = std::max(s.from, v + 1);
        else if (op == "<") s.to = std::min(s.to, v);
        else if (op == "<=" && v < INT64_MAX) s.to = std::min(s.to, v + 1);
        else if (op == "=") s.from = std::max(s.from, v), s.to = std::min(s.to, v == INT64_MAX ? v : v + 1);
      } else if (op == "=" && s.schema->columns[static_cast<size_t>(l->column)].type == tb::ColumnType::tag &&
                 r->type == Type::text) {
        auto& name = s.schema->columns[static_cast<size_t>(l->column)].name;
        pushed = true;
        tag_conj.push_back(c);
        auto it = tag_values.find(name);
        if (it == tag_values.end()) tag_values[name] = {r->value.s};
        else {
          std::vector<std::string> keep;
          for (auto& v : it->second)
            if (v == r->value.s) keep.push_back(v);
          it->second = keep;
        }
      }
    } else if (c->kind == ExprKind::in_list && !c->negate && c->args[0]->kind == ExprKind::column &&
               s.schema->columns[static_cast<size_t>(c->args[0]->column)].type == tb::ColumnType::tag &&
               std::all_of(c->args.begin() + 1, c->args.end(), [](const ExprPtr& a) {
                 return a->kind == ExprKind::constant && a->type == Type::text;
               })) {
      std::vector<std::string> vals;
      for (size_t k = 1; k < c->args.size(); ++k)
        if (!c->args[k]->value.null) vals.push_back(c->args[k]->value.s);
      pushed = true;
      tag_conj.push_back(c);
      auto& name = s.schema->columns[static_cast<size_t>(c->args[0]->column)].name;
      auto it = tag_values.find(name);
      if (it == tag_values.end()) tag_values[name] = vals;
      else {
        std::vector<std::string> keep;
        for (auto& v : it->second)
          if (std::find(vals.begin(), vals.end(), v) != vals.end()) keep.push_back(v);
        it->second = keep;
      }
    }
    if (!pushed) {
      std::function<bool(const Expr&)> tags_only = [&](const Expr& e) {
        if (e.kind == ExprKind::aggregate) return false;
        if (e.kind == ExprKind::column && s.schema->columns[static_cast<size_t>(e.column)].type != tb::ColumnType::tag)
          return false;
        for (auto& a : e.args)
          if (!tags_only(*a)) return false;
        return true;
      };
      if (c->has_columns() && tags_only(*c)) {
        s.series_filters.push_back(c->clone());
        pushed = true;
        answered.push_back(c);
      }
    }
  }
  if (push_tag_sets(s, tag_values)) answered.insert(answered.end(), tag_conj.begin(), tag_conj.end());
  if (answered.empty()) return;
  std::vector<ExprPtr> rest;
  for (const Expr* c : conj)
    if (std::find(answered.begin(), answered.end(), c) == answered.end()) rest.push_back(c->clone());
  if (rest.empty()) {
    p.where.reset();
  } else if (rest.size() == 1) {
    p.where = std::move(rest[0]);
  } else {
    auto e = std::make_unique<Expr>();
    e->kind = ExprKind::and_;
    e->type = Type::boolean;
    e->location = p.where->location;
    e->args = std::move(rest);
    p.where = std::move(e);
  }
}

// The series the allowed tag values select, as the scan's tag sets. False: the tags are left
// to WHERE, row by row (too many combinations to look up).
bool Binder::push_tag_sets(Source& s, const std::map<std::string, std::vector<std::string>>& tag_values) {
  if (tag_values.empty()) return true;
  // The cartesian product of the allowed values, when small.
  size_t product = 1;
  for (auto& [n, v] : tag_values) product *= std::max<size_t>(v.size(), 1);
  for (auto& [n, v] : tag_values)
    if (v.empty()) {
      s.tag_sets.push_back({{n, std::string("\x01no value\x01")}});  // matches nothing
      s.from = 1, s.to = 0;
      return true;
    }
  if (product > 1024) {
    s.where_pushed = false;  // the tags are filtered row by row after all
    return false;
  }
  s.tag_sets.push_back({});
  for (auto& [n, vals] : tag_values) {
    std::vector<std::vector<std::pair<std::string, std::string>>> next;
    for (auto& set : s.tag_sets)
      for (auto& v : vals) {
        auto x = set;
        x.emplace_back(n, v);
        next.push_back(std::move(x));
      }
    s.tag_sets = std::move(next);
  }
  return true;
}

// A series with fewer rows than this joins a chunk shared with other series (Binder::scan).
constexpr size_t kSmallSeries = 16;

// Series rows as chunks of the table's columns (the unread ones as NULL constants).
void Binder::scan(Source& s, Operator& next) {
  if (s.from >= s.to) return;
  const tb::Schema& schema = *s.schema;
  std::vector<int> field_pos(schema.columns.size(), -1), tag_pos(schema.columns.size(), -1);
  {
    int f = 0, t = 0;
    for (size_t k = 0; k < schema.columns.size(); ++k) {
      if (tb::is_field(schema.columns[k].type)) field_pos[k] = f++;
      else if (schema.columns[k].type == tb::ColumnType::tag) tag_pos[k] = t++;
    }
  }
  // The conditions on tags alone, decided once for all the series a scan would read (before
  // any of their rows are read): one chunk of a row per series, the tags the conditions read
  // as text and every other column NULL.
  tb::SeriesFilter series_filter;
  std::vector<bool> read(schema.columns.size(), false);
  for (auto& f : s.series_filters) mark_columns(*f, read);
  if (!s.series_filters.empty())
    series_filter = [&](const std::vector<const std::vector<std::string>*>& tags, std::vector<uint8_t>& keep) {
      Chunk c;
      c.rows = tags.size();
      for (size_t k = 0; k < schema.columns.size(); ++k) {
        if (tag_pos[k] < 0 || !read[k]) {
          Type ty = tag_pos[k] >= 0 ? Type::text : query_type(schema.columns[k].type);
          c.columns.push_back(Vector::make_constant(Value::make_null(ty), c.rows));
          continue;
        }
        Vector v;
        v.clear(Type::text);
        const size_t t = static_cast<size_t>(tag_pos[k]);
        v.s.reserve(tags.size());
        for (const std::vector<std::string>* x : tags) v.s.push_back(t < x->size() ? (*x)[t] : std::string());
        v.size = tags.size();
        c.columns.push_back(std::move(v));
      }
      for (auto& f : s.series_filters) {
        ctx_.check();
        Vector v = eval(*f, c, ctx_.eval);
        for (size_t r = 0; r < c.rows; ++r)
          if (keep[r] && (v.is_null(r) || !v.i[v.at(r)])) keep[r] = 0;
      }
    };
  // Appends rows [at, at + m) of a series to `c`. Its columns are made on first use: the
  // unread ones NULL constants, the tags constants when the chunk holds `one_series`, else flat
  // (a chunk shared by several series).
  auto append_series = [&](Chunk& c, const std::vector<std::string>& tags, const tb::SeriesRows& rows, size_t at,
                           size_t m, bool one_series) {
    static const std::string none;
    auto tag_of = [&](size_t k) -> const std::string& {
      size_t t = static_cast<size_t>(tag_pos[k]);
      return t < tags.size() ? tags[t] : none;
    };
    if (c.columns.empty()) {
      c.columns.reserve(schema.columns.size());  // made in place, not moved as the vector grows
      for (size_t k = 0; k < schema.columns.size(); ++k) {
        const tb::ColumnType ct = schema.columns[k].type;
        Type ty = query_type(ct);
        Vector v;
        if (!s.needed[k]) {
          // Unread: a place holder no expression reads (only the scan's own steps, a filter's
          // row selection, pass it on), without the allocations of a typed NULL constant: for
          // a series per chunk, a dozen unread columns' allocations were a fifth of a narrow scan.
          v.type = Type::null;
          v.constant = true;
        }
        else if (ct == tb::ColumnType::tag && one_series) v = Vector::make_constant(Value::of_text(tag_of(k)), 0);
        else v.clear(ct == tb::ColumnType::time ? Type::timestamp : ty);
        c.columns.push_back(std::move(v));
      }
    }
    const auto b = static_cast<long>(at), e = static_cast<long>(at + m);
    if (m == 1) {
      // One row (the latest row of a series, most often): pushed value by value, without
      // the range inserts below, whose set-up costs more than a row.
      for (size_t k = 0; k < schema.columns.size(); ++k) {
        Vector& v = c.columns[k];
        if (v.constant) continue;
        const tb::ColumnType ct = schema.columns[k].type;
        if (ct == tb::ColumnType::time) {
          v.i.push_back(rows.times[at]);
        } else if (ct == tb::ColumnType::tag) {
          v.s.push_back(tag_of(k));
        } else if (size_t f = static_cast<size_t>(field_pos[k]); f >= rows.fields.size() || !rows.fields[f].valid[at]) {
          v.push_null();  // a NULL, or a field added after this row
          continue;
        } else {
          const tb::FieldValues& fv = rows.fields[f];
          if (!v.valid.empty()) v.valid.push_back(1);
          if (v.type == Type::float64) v.f.push_back(fv.f[at]);
          else if (uses_ints(v.type)) v.i.push_back(fv.i[at]);
          else v.s.push_back(fv.s[at]);
        }
        ++v.size;
      }
      ++c.rows;
      for (auto& v : c.columns)
        if (v.constant) v.size = c.rows;
      return;
    }
    for (size_t k = 0; k < schema.columns.size(); ++k) {
      Vector& v = c.columns[k];
      if (v.constant) continue;  // unread, or the tag of the chunk's one series
      const tb::ColumnType ct = schema.columns[k].type;
      if (ct == tb::ColumnType::time) {
        v.i.insert(v.i.end(), rows.times.begin() + b, rows.times.begin() + e);
      } else if (ct == tb::ColumnType::tag) {
        v.s.insert(v.s.end(), m, tag_of(k));
      } else if (size_t f = static_cast<size_t>(field_pos[k]); f >= rows.fields.size()) {
        for (size_t r = 0; r < m; ++r) v.push_null();  // a field added after these rows
        continue;
      } else {
        const tb::FieldValues& fv = rows.fields[f];
        // `valid` stays empty while every row is valid.
        bool nulls = !v.valid.empty() || !std::all_of(fv.valid.begin() + b, fv.valid.begin() + e, [](uint8_t x) { return x != 0; });
        if (nulls) {
          v.valid.resize(v.size, 1);
          v.valid.insert(v.valid.end(), fv.valid.begin() + b, fv.valid.begin() + e);
        }
        if (v.type == Type::float64) v.f.insert(v.f.end(), fv.f.begin() + b, fv.f.begin() + e);
        else if (uses_ints(v.type)) v.i.insert(v.i.end(), fv.i.begin() + b, fv.i.begin() + e);
        else v.s.insert(v.s.end(), fv.s.begin() + b, fv.s.begin() + e);
      }
      v.size += m;
    }
    c.rows += m;
    for (auto& v : c.columns)
      if (v.constant) v.size = c.rows;
  };
  // A series' rows that fit one chunk (a block's, most often), handed on without a copy: the
  // chunk's columns take the decoded vectors (the scan lends them: ScanSpec::lend_rows) and give
  // vectors back after the pipeline is done with the chunk, for the next block to decode into.
  // The copies were a twentieth of a full scan.
  const bool lend = !s.latest;
  auto lend_series = [&](const std::vector<std::string>& tags, tb::SeriesRows& rows) {
    Chunk c;
    append_series(c, tags, rows, 0, 0, true);  // the columns, empty
    const size_t n = rows.rows();
    // The columns that take a vector of the rows: the times, and the fields read (a field
    // added after these rows is NULLs of its own); a field's validity too when it has NULLs.
    struct Lent {
      size_t column;
      int field;  // -1: the times
      bool valid;
    };
    thread_local std::vector<Lent> lent;
    lent.clear();
    for (size_t k = 0; k < c.columns.size(); ++k) {
      Vector& v = c.columns[k];
      if (v.constant) continue;  // unread, or a tag
      if (schema.columns[k].type == tb::ColumnType::time) {
        lent.push_back({k, -1, false});
      } else if (static_cast<size_t>(field_pos[k]) < rows.fields.size()) {
        const tb::FieldValues& fv = rows.fields[static_cast<size_t>(field_pos[k])];
        lent.push_back({k, field_pos[k], !std::all_of(fv.valid.begin(), fv.valid.end(), [](uint8_t x) { return x != 0; })});
      } else {
        for (size_t r = 0; r < n; ++r) v.push_null();
      }
      v.size = n;
    }
    auto exchange = [&] {
      for (const Lent& l : lent) {
        if (l.column >= c.columns.size()) continue;  // an operator dropped it
        Vector& v = c.columns[l.column];
        if (l.field < 0) {
          v.i.swap(rows.times);
          continue;
        }
        tb::FieldValues& fv = rows.fields[static_cast<size_t>(l.field)];
        if (l.valid) v.valid.swap(fv.valid);
        switch (fv.type) {
          case tb::ColumnType::float64: v.f.swap(fv.f); break;
          case tb::ColumnType::int64:
          case tb::ColumnType::boolean: v.i.swap(fv.i); break;
          default: v.s.swap(fv.s); break;
        }
      }
    };
    exchange();
    c.rows = n;
    for (auto& v : c.columns)
      if (v.constant) v.size = n;
    next.push(c);
    exchange();  // back: whatever the pipeline left in them, scratch for the next block
  };
  // Series with few rows (the latest row of each, a narrow time range) are gathered into one
  // chunk rather than pushed one small chunk each: every push costs each operator a pass and
  // its vectors, which for 1,000 one-row series was most of the query.
  Chunk small;
  auto flush_small = [&] {
    if (small.rows == 0) return;
    next.push(small);
    small = Chunk{};
  };
  auto fn = [&](const std::vector<std::string>& tags, const tb::SeriesRows& rows) {
    ctx_.check();
    if (ctx_.stop) throw StopScan{};
    size_t n = rows.rows();
    if (n < kSmallSeries) {
      append_series(small, tags, rows, 0, n, false);
      if (small.rows >= kChunkRows) flush_small();
      if (ctx_.stop) throw StopScan{};
      return;
    }
    flush_small();  // the rows keep the order of their series
    if (lend && n <= kChunkRows) {
      lend_series(tags, const_cast<tb::SeriesRows&>(rows));
      if (ctx_.stop) throw StopScan{};
      return;
    }
    for (size_t at = 0; at < n; at += kChunkRows) {
      Chunk c;
      append_series(c, tags, rows, at, std::min(kChunkRows, n - at), true);
      next.push(c);
      if (ctx_.stop) throw StopScan{};
    }
  };
  std::vector<std::vector<std::pair<std::string, std::string>>> sets = s.tag_sets;
  if (sets.empty()) sets.push_back({});
  for (auto& set : sets) {
    tb::ScanSpec spec;
    spec.from = s.from;
    spec.to = s.to;
    spec.tags = set;
    spec.latest = s.latest;
    spec.lend_rows = lend;
    spec.series_filter = series_filter;
    // Only the fields the query reads are decoded from the blocks, and the times if it reads them.
    for (size_t k = 0; k < schema.columns.size(); ++k) {
      if (field_pos[k] >= 0) spec.fields.push_back(s.needed[k]);
      if (schema.columns[k].type == tb::ColumnType::time) spec.times = s.needed[k];
    }
    std::string error;
    try {
      tb::Tables::SummaryFn summary;
      if (s.summary)
        summary = [&](const std::vector<std::string>& tags, const tb::BlockMeta& meta) {
          ctx_.check();
          return s.summary->absorb(tags, meta);
        };
      if (!tables_->scan(s.table, spec, fn, &error, summary)) {
        if (error.find("does not exist") != std::string::npos) fail("relation \"" + s.table + "\" does not exist");
        fail("could not read table \"" + s.table + "\": " + error);
      }
    } catch (const StopScan&) {
      return;
    }
    if (ctx_.stop) return;
  }
  flush_small();
}

void Binder::run(SelectPlan& p, Operator& sink) {
  // Built back to front: each operator feeds the next.
  std::vector<OperatorPtr> ops;
  Operator* next = &sink;
  auto add = [&](OperatorPtr op) {
    next = op.get();
    ops.push_back(std::move(op));
  };
  bool sorted_limit = !p.sort.empty() && p.distinct_on.empty();
  if (p.limit >= 0 || p.offset > 0) add(make_limit(p.limit, p.offset, ctx_, next));
  if (!p.distinct_on.empty()) add(make_distinct_on(p.distinct_on, ctx_, next));
  if (!p.sort.empty()) {
    int64_t top = sorted_limit && p.limit >= 0 ? p.limit + p.offset : -1;
    add(make_sort(p.sort, top, ctx_, next));
  }
  if (p.distinct) {
    std::vector<int> cols;
    for (size_t k = 0; k < p.columns.size(); ++k) cols.push_back(static_cast<int>(k));
    add(make_distinct(cols, ctx_, next));
  }
  if (p.fill) add(make_fill(*p.fill, ctx_, next));
  std::vector<const Expr*> proj;
  for (auto& e : p.projections) proj.push_back(e.get());
  add(make_project(proj, ctx_, next));
  if (!p.windows.empty()) add(make_window(window_specs(p), ctx_, next));
  if (p.aggregate) {
    if (p.gapfill) add(make_gapfill(*p.gapfill, ctx_, next));
    if (p.having) add(make_filter(p.having.get(), ctx_, next));
    std::vector<const Expr*> keys;
    for (auto& k : p.keys) keys.push_back(k.get());
    if (p.summary) add(make_summary_aggregate(keys, p.aggs, *p.summary, ctx_, next, &p.source.summary));
    else add(make_aggregate(keys, p.aggs, ctx_, next, p.streaming_groups));
  }
  if (p.where) {
    // What is read after WHERE: the aggregate's keys and arguments, else the projections
    // (windows, bound on these rows, read them through the projections too: then all are kept).
    const size_t width = p.source.kind == Source::Kind::table ? p.source.schema->columns.size()
                         : p.source.kind == Source::Kind::rows ? p.source.rows->columns.size()
                                                               : 0;
    std::vector<bool> live;
    if (width && (p.aggregate || p.windows.empty())) {
      live.assign(width, false);
      mark_read_after_where(p, live);
    }
    add(make_filter(p.where.get(), ctx_, next, std::move(live)));
  }

  Operator& first = *next;
  switch (p.source.kind) {
    case Source::Kind::one_row: {
      Chunk c;
      c.rows = 1;
      first.push(c);
      break;
    }
    case Source::Kind::rows:
      if (!p.source.rows->filled && p.source.rows->uses <= 1) {
        stream(*p.source.rows, first);
        break;
      }
      fill(*p.source.rows);
      for (auto& c : p.source.rows->chunks) {
        if (ctx_.stop) break;
        ctx_.check();
        Chunk copy = c;
        first.push(copy);
      }
      break;
    case Source::Kind::table: scan(p.source, first); break;
  }
  first.finish();
}

// ---- other statements ------------------------------------------------------------------------
void send_rows(ResultSink& sink, const std::vector<ColumnInfo>& cols, const std::vector<std::vector<Value>>& rows,
               QueryStatus& st) {
  sink.begin(cols);
  st.has_rows = true;
  Chunk c;
  for (auto& ci : cols) {
    Vector v;
    v.clear(ci.type);
    c.columns.push_back(std::move(v));
  }
  for (auto& r : rows)
    for (size_t k = 0; k < cols.size(); ++k) c.columns[k].push(r[k]);
  c.rows = rows.size();
  st.rows = rows.size();
  if (c.rows) sink.rows(c);
}

std::string describe_type(tb::ColumnType t) { return std::string(tb::type_name(t)); }

}  // namespace

void keep_freed_memory() {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (std::getenv("MALLOC_TRIM_THRESHOLD_") || (tunables && std::strstr(tunables, "trim_threshold"))) return;
  ::mallopt(M_TRIM_THRESHOLD, 128 << 20);
}

// The parse trees of recent statements, by their text. Dashboards, scripts and devices send
// the same statements again and again, and PostgreSQL's parser with its JSON output was 40 %
// of a one-row query's instructions (single-last-loc). A tree depends on the text alone; only
// statements that parse are kept, least recently used first out, within kParseCacheBytes.
class ParseCache {
 public:
  static constexpr size_t kParseCacheBytes = 4 << 20;
  static constexpr size_t kEntryBytes = 256 << 10;  // a larger statement is parsed each time

  std::shared_ptr<const std::string> find(const std::string& sql) {
    std::lock_guard lock(mu_);
    auto it = index_.find(sql);
    if (it == index_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->tree;
  }

  void put(const std::string& sql, std::shared_ptr<const std::string> tree) {
    const size_t bytes = sql.size() + tree->size();
    if (bytes > kEntryBytes) return;
    std::lock_guard lock(mu_);
    if (index_.count(sql)) return;  // another thread parsed it meanwhile
    lru_.push_front(Entry{sql, std::move(tree)});
    index_.emplace(lru_.front().sql, lru_.begin());
    bytes_ += bytes;
    while (bytes_ > kParseCacheBytes) {
      Entry& old = lru_.back();
      bytes_ -= old.sql.size() + old.tree->size();
      index_.erase(old.sql);
      lru_.pop_back();
    }
  }

  size_t size() const {
    std::lock_guard lock(mu_);
    return lru_.size();
  }

 private:
  struct Entry {
    std::string sql;
    std::shared_ptr<const std::string> tree;
  };
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;  // views of lru_'s sql
  size_t bytes_ = 0;
};

struct Engine::Impl {
  Impl(tb::Tables* t, SystemViews* v) : tables(t), views(v) {}
  tb::Tables* tables;
  SystemViews* views;
  ParseCache parses;
};

Engine::Engine(store::tables::Tables* tables, SystemViews* views) : impl_(std::make_unique<Impl>(tables, views)) {}

size_t Engine::cached_parses() const { return impl_->parses.size(); }
Engine::~Engine() = default;

namespace {

// DESCRIBE is not PostgreSQL's: read it before the parser does.
bool describe_statement(std::string_view sql, std::string* table) {
  size_t p = 0;
  while (p < sql.size() && std::isspace(static_cast<unsigned char>(sql[p]))) ++p;
  std::string word;
  while (p < sql.size() && std::isalpha(static_cast<unsigned char>(sql[p])))
    word += static_cast<char>(std::tolower(static_cast<unsigned char>(sql[p++])));
  if (word != "describe" && word != "desc") return false;
  while (p < sql.size() && std::isspace(static_cast<unsigned char>(sql[p]))) ++p;
  std::string name;
  while (p < sql.size() && !std::isspace(static_cast<unsigned char>(sql[p])) && sql[p] != ';') name += sql[p++];
  while (p < sql.size() && (std::isspace(static_cast<unsigned char>(sql[p])) || sql[p] == ';')) ++p;
  if (p != sql.size() || name.empty()) return false;
  if (name.size() > 1 && name.front() == '"' && name.back() == '"') name = name.substr(1, name.size() - 2);
  else
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  *table = name;
  return true;
}

std::string option_text(El arg) {
  auto [t, b] = node(arg);
  if (t == "String") return std::string(str(b, "sval"));
  if (t == "Integer") return std::to_string(num(b, "ival"));
  if (t == "Float") return std::string(str(b, "fval"));
  if (t == "TypeName") return last_name(field(b, "names"));
  if (t == "Boolean") return flag(b, "boolval") ? "true" : "false";
  return {};
}

tb::Column column_def(El def) {
  auto [t, b] = node(def);
  if (t != "ColumnDef") fail("only column definitions are supported in CREATE TABLE", loc(b));
  tb::Column c;
  c.name = str(b, "colname");
  auto tn = field(b, "typeName");
  std::string type = last_name(field(*tn, "names"));
  auto ct = column_type(type);
  if (!ct) fail("type \"" + type + "\" does not exist", loc(*tn));
  c.type = *ct;
  return c;
}

uint64_t parse_bytes(const std::string& s, int location) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  std::string unit = end ? std::string(end) : std::string();
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  for (auto& ch : unit) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  double mul = 1;
  if (unit.empty() || unit == "b") mul = 1;
  else if (unit == "kb" || unit == "kib" || unit == "k") mul = 1024;
  else if (unit == "mb" || unit == "mib" || unit == "m") mul = 1024.0 * 1024;
  else if (unit == "gb" || unit == "gib" || unit == "g") mul = 1024.0 * 1024 * 1024;
  else if (unit == "tb" || unit == "tib" || unit == "t") mul = 1024.0 * 1024 * 1024 * 1024;
  else fail("invalid size \"" + s + "\": use a number with B, KB, MB, GB or TB", location);
  if (!(v >= 0) || end == s.c_str()) fail("invalid size \"" + s + "\"", location);
  return static_cast<uint64_t>(v * mul);
}

}  // namespace

QueryStatus Engine::execute(std::string_view sql, const QueryOptions& options, ResultSink& sink) {
  QueryStatus st;
  ExecContext ctx;
  ctx.eval.now_ns = options.now_ns;
  if (!ctx.eval.now_ns)
    ctx.eval.now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  ctx.eval.tz = options.tz.empty() ? "UTC" : options.tz;
  ctx.timeout = options.timeout;
  if (options.timeout.count() > 0) ctx.deadline = std::chrono::steady_clock::now() + options.timeout;
  ctx.cancel = options.cancel;
  ctx.memory_limit = options.memory_limit;
  tb::Tables* tables = impl_->tables;
  std::string query(sql);
  PgQueryParseResult parsed{};
  bool have_parse = false;
  try {
    tz_offset(ctx.eval.tz, ctx.eval.now_ns, -1);  // an unknown session zone fails early
    std::string describe_table;
    if (describe_statement(query, &describe_table)) {
      auto schema = tables ? tables->schema(describe_table) : nullptr;
      if (!schema) fail("relation \"" + describe_table + "\" does not exist");
      std::vector<std::vector<Value>> rows;
      for (auto& c : schema->columns)
        rows.push_back({Value::of_text(c.name), Value::of_text(describe_type(c.type)),
                        Value::of_text(c.type == tb::ColumnType::time ? "time"
                                       : c.type == tb::ColumnType::tag ? "tag"
                                                                        : "field")});
      send_rows(sink, {{"column", Type::text}, {"type", Type::text}, {"kind", Type::text}}, rows, st);
      st.tag = "DESCRIBE";
      return st;
    }
    // Before the parser, whose JSON output recurses once per level of the tree: a query that
    // nests deep enough would overflow this thread's stack and end the server. And whose
    // nodes, their JSON and its DOM take up to 256 bytes a token: charged to the query's
    // memory limit before they are made, not after.
    auto too_big = [&](const std::string& what) { fail(ctx.over_memory_limit() + " to be parsed: " + what); };
    // (A query of at most 1,000 characters is not counted: its parse takes a few hundred KB.)
    const bool counted = options.memory_limit && query.size() > static_cast<size_t>(kMaxQueryNesting);
    if (counted && query.size() > options.memory_limit / kParseBytesPerTextByte)
      too_big(std::to_string(query.size()) + " bytes of text (at most 1 byte in " +
              std::to_string(kParseBytesPerTextByte) + " of the limit)");
    size_t tokens = 0;
    if (int at = nesting_past(query, kMaxQueryNesting, &tokens); at >= 0)
      fail("stack depth limit exceeded: the query nests more than " + std::to_string(kMaxQueryNesting) +
               " levels deep (operators, parentheses, CASE)",
           at);
    if (counted && tokens > options.memory_limit / kParseBytesPerToken)
      too_big(std::to_string(tokens) + " tokens (about " + std::to_string(kParseBytesPerToken) + " bytes each)");
    std::shared_ptr<const std::string> tree = impl_->parses.find(query);
    if (!tree) {
      parsed = pg_query_parse(query.c_str());
      have_parse = true;
      if (parsed.error) {
        st.ok = false;
        st.error = parsed.error->message;
        st.position = parsed.error->cursorpos;
        pg_query_free_parse_result(parsed);
        have_parse = false;
        return st;
      }
      tree = std::make_shared<const std::string>(parsed.parse_tree);
      pg_query_free_parse_result(parsed);
      have_parse = false;
      impl_->parses.put(query, tree);
    }
    simdjson::dom::parser jp;
    El doc;
    // A level of the query can be several of the JSON (an operator's "lexpr" and its node, a
    // function's "args", its element and its node): room for every level the check above lets in.
    if (jp.allocate(tree->size(), 16 * kMaxQueryNesting + 64) || jp.parse(tree->data(), tree->size()).get(doc))
      fail("internal error: unreadable parse tree");
    auto stmts = list(field(doc, "stmts"));
    if (stmts.empty()) fail("empty query");
    if (stmts.size() > 1) fail("cannot insert multiple commands into a prepared statement");
    auto stmt_el = field(stmts[0], "stmt");
    auto [kind, body] = node(*stmt_el);
    Binder binder(query, tables, impl_->views, ctx, options);

    if (kind == "SelectStmt") {
      auto plan = binder.select(body);
      sink.begin(plan->columns);
      st.has_rows = true;
      SinkOperator out(sink, plan->columns.size(), ctx);
      binder.run(*plan, out);
      st.rows = out.rows;
      st.tag = "SELECT " + std::to_string(out.rows);
    } else if (kind == "ExplainStmt") {
      auto q = field(body, "query");
      auto [qk, qb] = node(*q);
      if (qk != "SelectStmt") fail("EXPLAIN is supported for SELECT");
      auto plan = binder.select(qb);
      std::vector<std::vector<Value>> rows;
      std::string indent;
      auto line = [&](const std::string& s) {
        rows.push_back({Value::of_text(indent + s)});
        indent += "  ";
      };
      if (plan->limit >= 0 || plan->offset)
        line("Limit " + (plan->limit >= 0 ? std::to_string(plan->limit) : std::string("ALL")) +
             (plan->offset ? " offset " + std::to_string(plan->offset) : ""));
      if (!plan->distinct_on.empty()) line("Distinct On (" + std::to_string(plan->distinct_on.size()) + " keys)");
      if (!plan->sort.empty()) {
        std::string keys;
        for (auto& k : plan->sort) {
          if (!keys.empty()) keys += ", ";
          keys += k.column < static_cast<int>(plan->columns.size()) ? plan->columns[static_cast<size_t>(k.column)].name
                                                                     : "$" + std::to_string(k.column + 1);
          if (k.desc) keys += " DESC";
        }
        line("Sort (" + keys + ")" + (plan->limit >= 0 ? " top-N" : ""));
      }
      if (plan->distinct) line("Distinct");
      if (!plan->windows.empty()) {
        std::string w;
        for (auto& e : plan->windows) w += (w.empty() ? "" : ", ") + e->name;
        line("Window (" + w + ")");
      }
      if (plan->gapfill) line("Gapfill");
      if (plan->aggregate) {
        std::string a;
        for (auto& s : plan->aggs) a += (a.empty() ? "" : ", ") + s.fn;
        line("Aggregate (" + std::to_string(plan->keys.size()) + " group keys; " + a + ")");
      }
      if (plan->where) line("Filter");
      const Source& s = plan->source;
      if (s.kind == Source::Kind::table) {
        std::string r = "Scan " + s.table;
        auto fmt = [](int64_t t) { return t == INT64_MIN || t == INT64_MAX ? std::string("unbounded") : format_timestamp(t); };
        r += " time [" + fmt(s.from) + ", " + fmt(s.to) + ")";
        if (!s.tag_sets.empty()) {
          r += " series:";
          for (auto& set : s.tag_sets) {
            r += " (";
            for (size_t k = 0; k < set.size(); ++k) r += (k ? " AND " : "") + set[k].first + " = '" + set[k].second + "'";
            r += ")";
          }
        }
        std::string cols;
        for (size_t k = 0; k < s.needed.size(); ++k)
          if (s.needed[k]) cols += (cols.empty() ? "" : ", ") + s.schema->columns[k].name;
        r += " columns: " + (cols.empty() ? std::string("none") : cols);
        if (!s.series_filters.empty()) r += " series filter: " + std::to_string(s.series_filters.size()) + " condition(s) on tags, once per series";
        if (s.latest) r += " (latest row per series)";
        if (plan->summary) r += " (aggregates from block statistics where a block lies wholly in range)";
        if (plan->streaming_groups) r += " (groups one after another: each put out as the next begins)";
        line(r);
        tb::ScanEstimate est = tables->estimate(s.table, s.from, s.to);
        rows.push_back({Value::of_text(indent + "partitions: " + std::to_string(est.partitions) + " of " +
                                       std::to_string(est.partitions_total) + ", block files: " + std::to_string(est.files) +
                                       ", blocks: " + std::to_string(est.blocks) + ", series: " + std::to_string(est.series) +
                                       ", rows in memory: " + std::to_string(est.rows_in_memory))});
      } else if (s.kind == Source::Kind::rows) {
        line("Rows (subquery, CTE or view)");
      } else {
        line("Result (one row)");
      }
      send_rows(sink, {{"QUERY PLAN", Type::text}}, rows, st);
      st.tag = "EXPLAIN";
    } else if (kind == "VariableShowStmt") {
      std::string name(str(body, "name"));
      if (name != "tables") fail("unrecognized configuration parameter \"" + name + "\"");
      std::vector<std::vector<Value>> rows;
      if (tables) {
        auto infos = tables->list();
        std::sort(infos.begin(), infos.end(), [](auto& a, auto& b) { return a.schema->name < b.schema->name; });
        for (auto& i : infos) {
          bool empty = i.rows_on_disk + i.rows_in_memory == 0;
          // Against 8 bytes per value of every column (time, tags, fields): what the rows on
          // disk would take as plain fixed-width columns (docs/sql.md#show-tables).
          double raw = static_cast<double>(i.rows_on_disk) * 8.0 * static_cast<double>(i.schema->columns.size());
          Value ratio = i.bytes_on_disk > 0 && i.rows_on_disk > 0
                            ? Value::of_float(raw / static_cast<double>(i.bytes_on_disk))
                            : Value::make_null(Type::float64);
          rows.push_back({Value::of_text(i.schema->name), Value::of_int(static_cast<int64_t>(i.series)),
                          Value::of_int(static_cast<int64_t>(i.rows_on_disk + i.rows_in_memory)),
                          Value::of_int(static_cast<int64_t>(i.bytes_on_disk)),
                          empty ? Value::make_null(Type::timestamp) : Value::of_time(i.min_time),
                          empty ? Value::make_null(Type::timestamp) : Value::of_time(i.max_time),
                          i.schema->options.ttl_ns ? Value::of_interval(i.schema->options.ttl_ns) : Value::make_null(Type::interval),
                          ratio});
        }
      }
      send_rows(sink,
                {{"name", Type::text}, {"series", Type::int64}, {"rows", Type::int64}, {"bytes_on_disk", Type::int64},
                 {"first", Type::timestamp}, {"last", Type::timestamp}, {"retention", Type::interval},
                 {"compression_ratio", Type::float64}},
                rows, st);
      st.tag = "SHOW";
    } else if (kind == "CreateStmt") {
      if (!tables) fail("tables are not available");
      tb::Schema schema;
      schema.name = str(*field(body, "relation"), "relname");
      for (El e : list(field(body, "tableElts"))) schema.columns.push_back(column_def(e));
      for (El o : list(field(body, "options"))) {
        auto [ot, ob] = node(o);
        std::string key(str(ob, "defname"));
        auto arg = field(ob, "arg");
        std::string val = arg ? option_text(*arg) : "";
        int at = loc(ob);
        auto duration = [&](const std::string& what) {
          int64_t ns = 0;
          std::string err;
          if (parse_interval(val, &ns, &err) && ns > 0) return ns;
          auto d = tb::parse_duration(val);
          if (!d || *d <= 0) fail("invalid value for " + what + ": \"" + val + "\" (use a duration like '1 day', '6 hours', '30d')", at);
          return *d;
        };
        if (key == "partition" || key == "partition_size") schema.options.partition_ns = duration("partition");
        else if (key == "retention" || key == "ttl") schema.options.ttl_ns = duration("retention");
        else if (key == "out_of_order_window" || key == "ooo_window") schema.options.ooo_window_ns = duration("out_of_order_window");
        else if (key == "duplicates") {
          auto pol = tb::parse_policy(val);
          if (!pol) fail("invalid value for enum option \"duplicates\": " + val);
          schema.options.duplicates = *pol;
        } else if (key == "disk_budget") schema.options.disk_budget = parse_bytes(val, at);
        else fail("unrecognized parameter \"" + key + "\"");
      }
      for (size_t a = 0; a < schema.columns.size(); ++a)
        for (size_t b2 = a + 1; b2 < schema.columns.size(); ++b2)
          if (schema.columns[a].name == schema.columns[b2].name)
            fail("column \"" + schema.columns[a].name + "\" specified more than once");
      bool if_not_exists = flag(body, "if_not_exists");
      std::string name_lower;
      if (tb::normalize_name(schema.name, &name_lower) && tables->schema(name_lower) && !if_not_exists)
        fail("relation \"" + name_lower + "\" already exists");
      store::Lsn lsn = 0;
      std::string err = tables->create_table(schema, if_not_exists, &lsn);
      if (!err.empty()) fail(err);
      if (lsn) tables->wait_durable(lsn, std::chrono::seconds(30));
      st.tag = "CREATE TABLE";
    } else if (kind == "DropStmt") {
      if (str(body, "removeType") != "OBJECT_TABLE") fail("only DROP TABLE is supported");
      if (!tables) fail("tables are not available");
      bool missing_ok = flag(body, "missing_ok");
      store::Lsn last = 0;
      for (El o : list(field(body, "objects"))) {
        auto [lt, lb] = node(o);
        std::string name = last_name(field(lb, "items"));
        if (!tables->schema(name)) {
          if (missing_ok) continue;
          fail("table \"" + name + "\" does not exist");
        }
        store::Lsn lsn = 0;
        std::string err = tables->drop_table(name, &lsn);
        if (!err.empty()) fail(err);
        last = std::max(last, lsn);
      }
      if (last) tables->wait_durable(last, std::chrono::seconds(30));
      st.tag = "DROP TABLE";
    } else if (kind == "AlterTableStmt") {
      if (!tables) fail("tables are not available");
      std::string name(str(*field(body, "relation"), "relname"));
      if (!tables->schema(name)) fail("relation \"" + name + "\" does not exist");
      std::vector<tb::Column> add;
      for (El c : list(field(body, "cmds"))) {
        auto [ct, cb] = node(c);
        if (str(cb, "subtype") != "AT_AddColumn") fail("only ALTER TABLE ... ADD COLUMN is supported");
        tb::Column col = column_def(*field(cb, "def"));
        auto schema = tables->schema(name);
        if (schema->find(col.name) >= 0 && !flag(cb, "missing_ok"))
          fail("column \"" + col.name + "\" of relation \"" + name + "\" already exists");
        add.push_back(col);
      }
      store::Lsn lsn = 0;
      std::string err = tables->add_columns(name, add, &lsn);
      if (!err.empty()) fail(err);
      if (lsn) tables->wait_durable(lsn, std::chrono::seconds(30));
      st.tag = "ALTER TABLE";
    } else if (kind == "InsertStmt") {
      if (!tables) fail("tables are not available");
      auto rel = field(body, "relation");
      std::string name(str(*rel, "relname"));
      auto schema = tables->schema(name);
      if (!schema) fail("relation \"" + name + "\" does not exist", loc(*rel));
      std::vector<int> cols;
      for (El c : list(field(body, "cols"))) {
        auto [ct, cb] = node(c);
        std::string cn(str(cb, "name"));
        int k = schema->find(cn);
        if (k < 0) fail("column \"" + cn + "\" of relation \"" + name + "\" does not exist", loc(cb));
        cols.push_back(k);
      }
      if (cols.empty())
        for (size_t k = 0; k < schema->columns.size(); ++k) cols.push_back(static_cast<int>(k));
      auto sel = field(body, "selectStmt");
      auto [sk, sb] = node(*sel);
      auto values = list(field(sb, "valuesLists"));
      if (values.empty()) fail("INSERT takes VALUES (...) lists");
      tb::RowBatch batch;
      batch.table_id = schema->id;
      batch.columns = static_cast<uint32_t>(schema->columns.size());
      std::vector<int> fields = schema->field_indexes();
      std::vector<int> tags = schema->tag_indexes();
      for (int f : fields) {
        tb::FieldValues fv;
        fv.type = schema->columns[static_cast<size_t>(f)].type;
        batch.fields.push_back(std::move(fv));
      }
      std::map<std::vector<std::string>, uint32_t> series;
      for (El row : values) {
        auto items = list(field(node(row).second, "items"));
        if (items.size() != cols.size())
          fail(items.size() > cols.size() ? "INSERT has more expressions than target columns" : "INSERT has more target columns than expressions",
               items.size() > cols.size() ? loc(node(items[cols.size()]).second) : -1);
        std::vector<Value> vals(schema->columns.size());
        std::vector<bool> given(schema->columns.size(), false);
        for (size_t k = 0; k < items.size(); ++k) {
          size_t c = static_cast<size_t>(cols[k]);
          Type want = query_type(schema->columns[c].type);
          ExprPtr e = binder.fold(binder.expr(items[k], {}, false));
          if (e->kind != ExprKind::constant) fail("INSERT values must be constants", e->location);
          if (e->type != want) {
            if (e->untyped && want == Type::timestamp) {
              int64_t ns;
              std::string err;
              if (!parse_timestamp(e->value.s, ctx.eval.tz, &ns, &err)) fail(err, e->location);
              e = make_constant(Value::of_time(ns), e->location);
            } else {
              e = binder.fold(cast_operand(std::move(e), want));
            }
          }
          vals[c] = e->value;
          given[c] = true;
        }
        int ti = schema->time_index();
        if (!given[static_cast<size_t>(ti)] || vals[static_cast<size_t>(ti)].null)
          fail("null value in column \"" + schema->columns[static_cast<size_t>(ti)].name + "\" of relation \"" + name +
               "\" violates not-null constraint");
        std::vector<std::string> key;
        for (int t : tags) key.push_back(given[static_cast<size_t>(t)] && !vals[static_cast<size_t>(t)].null ? vals[static_cast<size_t>(t)].s : "");
        auto [it, fresh] = series.emplace(key, static_cast<uint32_t>(batch.series.size()));
        if (fresh) batch.series.push_back(key);
        batch.row_series.push_back(it->second);
        batch.times.push_back(vals[static_cast<size_t>(ti)].i);
        for (size_t f = 0; f < fields.size(); ++f) {
          const Value& v = vals[static_cast<size_t>(fields[f])];
          tb::FieldValues& fv = batch.fields[f];
          if (!given[static_cast<size_t>(fields[f])] || v.null) fv.push_null();
          else if (fv.type == tb::ColumnType::float64) fv.push_f(v.f);
          else if (fv.type == tb::ColumnType::int64 || fv.type == tb::ColumnType::boolean) fv.push_i(v.i);
          else fv.push_s(v.s);
        }
      }
      tb::WriteResult w = tables->write(batch);
      if (!w.lsn) fail(w.error.empty() ? "the store refuses writes" : w.error);
      if (!tables->wait_durable(w.lsn, std::chrono::seconds(30))) fail("the write-ahead log did not make the rows durable in 30 s");
      st.rows = batch.rows();
      st.tag = "INSERT 0 " + std::to_string(batch.rows());
    } else if (kind == "DeleteStmt") {
      // DELETE FROM t [WHERE time < x | time <= x]: time-series deletes drop history before a
      // time (a watermark the reads honour; whole partitions go at the next retention pass).
      if (!tables) fail("tables are not available");
      auto rel = field(body, "relation");
      std::string name(str(*rel, "relname"));
      auto schema = tables->schema(name);
      if (!schema) fail("relation \"" + name + "\" does not exist", loc(*rel));
      std::vector<ScopeColumn> scope;
      for (auto& c : schema->columns) scope.push_back({name, c.name, query_type(c.type)});
      int64_t before = INT64_MAX;  // no WHERE: everything
      if (auto w = field(body, "whereClause")) {
        ExprPtr e = binder.fold(binder.expr(*w, scope, false));
        bool ok = e->kind == ExprKind::call && e->args.size() == 2 && (e->name == "<" || e->name == "<=") &&
                  e->args[0]->kind == ExprKind::column && e->args[0]->column == schema->time_index() &&
                  e->args[1]->kind == ExprKind::constant && e->args[1]->type == Type::timestamp && !e->args[1]->value.null;
        if (!ok)
          fail("DELETE supports only WHERE " + schema->columns[static_cast<size_t>(schema->time_index())].name +
                   " < timestamp (or <=): a time-series table drops history before a time",
               e->location);
        before = e->args[1]->value.i;
        if (e->name == "<=" && before < INT64_MAX) ++before;
      }
      if (before == INT64_MAX) {
        // No WHERE: every row there is now (the watermark goes just past the newest).
        before = INT64_MIN;
        for (auto& i : tables->list())
          if (i.schema->name == schema->name && i.rows_on_disk + i.rows_in_memory) before = i.max_time + 1;
      }
      // How many rows go, for the command tag.
      uint64_t gone = 0;
      {
        tb::ScanSpec spec;
        spec.to = before;
        if (auto sch = tables->schema(name))  // counting rows reads no field
          for (const auto& c : sch->columns)
            if (tb::is_field(c.type)) spec.fields.push_back(false);
        std::string err;
        tables->scan(name, spec, [&](const std::vector<std::string>&, const tb::SeriesRows& r) { gone += r.rows(); }, &err);
      }
      store::Lsn lsn = 0;
      std::string err = tables->delete_before(name, before, &lsn);
      if (!err.empty()) fail(err);
      if (lsn && !tables->wait_durable(lsn, std::chrono::seconds(30))) fail("the write-ahead log did not make the DELETE durable in 30 s");
      st.rows = gone;
      st.tag = "DELETE " + std::to_string(gone);
    } else if (kind == "TransactionStmt") {
      st.tag = std::string(str(body, "kind")) == "TRANS_STMT_BEGIN" ? "BEGIN" : "COMMIT";  // each statement is its own transaction
    } else {
      std::string k(kind);
      if (k.size() > 4 && k.substr(k.size() - 4) == "Stmt") k = k.substr(0, k.size() - 4);
      fail("statement " + k + " is not supported");
    }
  } catch (const QueryError& e) {
    st.ok = false;
    st.error = e.what();
    st.position = e.location >= 0 ? char_position(query, e.location) : 0;
  } catch (const std::bad_alloc&) {
    st.ok = false;
    st.error = "out of memory";
  } catch (const std::exception& e) {
    st.ok = false;
    st.error = std::string("internal error: ") + e.what();
  }
  if (have_parse) pg_query_free_parse_result(parsed);
  return st;
}

}  // namespace mqbase::query
