#include "query/expr.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <pthread.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>

#include "ingest/payload.h"

namespace mqbase::query {
namespace {

constexpr int64_t kUs = 1000, kMs = 1'000'000, kSec = 1'000'000'000, kMin = 60 * kSec, kHour = 60 * kMin,
                  kDayNs = 24 * kHour;

[[noreturn]] void fail(const std::string& m, int loc) { throw QueryError(m, loc); }

std::string pg_type(Type t) {
  switch (t) {
    case Type::timestamp: return "timestamp with time zone";
    case Type::null: return "unknown";
    default: return std::string(type_name(t));
  }
}

// ---- typed access -------------------------------------------------------------------------
template <class T> struct Acc;
template <> struct Acc<int64_t> {
  static const std::vector<int64_t>& r(const Vector& x) { return x.i; }
  static std::vector<int64_t>& w(Vector& x) { return x.i; }
};
template <> struct Acc<double> {
  static const std::vector<double>& r(const Vector& x) { return x.f; }
  static std::vector<double>& w(Vector& x) { return x.f; }
};
template <> struct Acc<std::string> {
  static const std::vector<std::string>& r(const Vector& x) { return x.s; }
  static std::vector<std::string>& w(Vector& x) { return x.s; }
};

bool has_nulls(const Vector& v) { return v.type == Type::null || !v.valid.empty(); }

// Values `vo` (empty) sized n to be written, every one: on a spare buffer for numbers.
template <class T>
void size_output(std::vector<T>& vo, size_t n) {
  if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) sized_for_writing(vo, n);
  else vo.resize(n);
}

// A's value slots cover the n rows read (a NULL row has a slot too), or its one if constant.
template <class T>
bool covers(const Vector& a, size_t n) {
  return a.type != Type::null && Acc<T>::r(a).size() >= (a.constant ? 1 : n);
}

// out = f(a, b) per row; NULL in, NULL out. Two constants give a constant. `total`: f is
// defined on any value and does nothing but return (a comparison), so with NULLs about it runs
// on every row, the NULL rows' slots too, and the validity is the operands' ANDed, each a
// loop the compiler vectorizes; otherwise NULL rows are skipped one by one.
template <class TA, class TB, class TO, bool total = false, class F>
void binary(const Vector& a, const Vector& b, size_t rows, Vector& out, Type ot, F f) {
  out.clear(ot);
  bool both_const = a.constant && b.constant;
  size_t n = both_const ? (rows ? 1 : 0) : rows;
  auto& vo = Acc<TO>::w(out);
  size_output(vo, n);
  bool nulls = has_nulls(a) || has_nulls(b);
  if (nulls) out.valid.assign(n, 1);
  if (!n) {
  } else if (!nulls || (total && covers<TA>(a, n) && covers<TB>(b, n))) {
    const auto& va = Acc<TA>::r(a);
    const auto& vb = Acc<TB>::r(b);
    // A constant operand (`velocity > 1`) read once, so the loop over the other vectorizes
    // (indexed through at(r), it did not).
    if (!a.constant && !b.constant) {
      for (size_t r = 0; r < n; ++r) vo[r] = f(va[r], vb[r]);
    } else if (b.constant) {
      const auto& y = vb[0];
      for (size_t r = 0; r < n; ++r) vo[r] = f(va[r], y);
    } else {
      const auto& x = va[0];
      for (size_t r = 0; r < n; ++r) vo[r] = f(x, vb[r]);
    }
    uint8_t* ok = out.valid.data();
    for (const Vector* x : {&a, &b}) {
      if (x->valid.empty()) continue;
      if (x->constant) {
        if (!x->valid[0]) std::fill(out.valid.begin(), out.valid.end(), 0);
        continue;
      }
      const uint8_t* xv = x->valid.data();
      for (size_t r = 0; r < n; ++r) ok[r] &= xv[r] != 0;
    }
  } else {
    for (size_t r = 0; r < n; ++r) {
      if (a.is_null(r) || b.is_null(r)) {
        out.valid[r] = 0;
        vo[r] = TO{};  // a spare buffer's old value otherwise
        continue;
      }
      vo[r] = f(Acc<TA>::r(a)[a.at(r)], Acc<TB>::r(b)[b.at(r)]);
    }
  }
  out.constant = both_const;
  out.size = rows;
}

template <class TA, class TO, class F>
void unary(const Vector& a, size_t rows, Vector& out, Type ot, F f) {
  out.clear(ot);
  size_t n = a.constant ? (rows ? 1 : 0) : rows;
  auto& vo = Acc<TO>::w(out);
  size_output(vo, n);
  bool nulls = has_nulls(a);
  if (nulls) out.valid.assign(n, 1);
  for (size_t r = 0; r < n; ++r) {
    if (nulls && a.is_null(r)) {
      out.valid[r] = 0;
      vo[r] = TO{};
      continue;
    }
    vo[r] = f(Acc<TA>::r(a)[a.at(r)]);
  }
  out.constant = a.constant;
  out.size = rows;
}

// ---- kernels ------------------------------------------------------------------------------
#define KERNEL(name) void name(const Expr& e, const Args& a, size_t rows, Vector& out, const EvalContext& ctx)

int64_t checked(bool overflow, int64_t v, int loc) {
  if (overflow) fail("bigint out of range", loc);
  return v;
}

KERNEL(k_add_ii) {
  binary<int64_t, int64_t, int64_t>(a[0], a[1], rows, out, e.type, [&](int64_t x, int64_t y) {
    int64_t r;
    bool overflow = __builtin_add_overflow(x, y, &r);
    return checked(overflow, r, -1);
  });
}
KERNEL(k_sub_ii) {
  binary<int64_t, int64_t, int64_t>(a[0], a[1], rows, out, e.type, [&](int64_t x, int64_t y) {
    int64_t r;
    bool overflow = __builtin_sub_overflow(x, y, &r);
    return checked(overflow, r, -1);
  });
}
KERNEL(k_mul_ii) {
  binary<int64_t, int64_t, int64_t>(a[0], a[1], rows, out, e.type, [&](int64_t x, int64_t y) {
    int64_t r;
    bool overflow = __builtin_mul_overflow(x, y, &r);
    return checked(overflow, r, -1);
  });
}
KERNEL(k_div_ii) {
  binary<int64_t, int64_t, int64_t>(a[0], a[1], rows, out, e.type, [&](int64_t x, int64_t y) {
    if (y == 0) fail("division by zero", -1);
    if (x == INT64_MIN && y == -1) fail("bigint out of range", -1);
    return x / y;
  });
}
KERNEL(k_mod_ii) {
  binary<int64_t, int64_t, int64_t>(a[0], a[1], rows, out, e.type, [&](int64_t x, int64_t y) {
    if (y == 0) fail("division by zero", -1);
    if (y == -1) return int64_t{0};
    return x % y;
  });
}
KERNEL(k_add_ff) { binary<double, double, double>(a[0], a[1], rows, out, e.type, [](double x, double y) { return x + y; }); }
KERNEL(k_sub_ff) { binary<double, double, double>(a[0], a[1], rows, out, e.type, [](double x, double y) { return x - y; }); }
KERNEL(k_mul_ff) { binary<double, double, double>(a[0], a[1], rows, out, e.type, [](double x, double y) { return x * y; }); }
KERNEL(k_div_ff) {
  binary<double, double, double>(a[0], a[1], rows, out, e.type, [&](double x, double y) {
    if (y == 0) fail("division by zero", -1);
    return x / y;
  });
}
KERNEL(k_mod_ff) {
  binary<double, double, double>(a[0], a[1], rows, out, e.type, [&](double x, double y) {
    if (y == 0) fail("division by zero", -1);
    return std::fmod(x, y);
  });
}
// interval * number, interval / number
KERNEL(k_mul_if) {
  binary<int64_t, double, int64_t>(a[0], a[1], rows, out, e.type,
                                   [](int64_t x, double y) { return static_cast<int64_t>(std::llround(x * y)); });
}
KERNEL(k_div_if) {
  binary<int64_t, double, int64_t>(a[0], a[1], rows, out, e.type, [&](int64_t x, double y) {
    if (y == 0) fail("division by zero", -1);
    return static_cast<int64_t>(std::llround(x / y));
  });
}
KERNEL(k_concat) {
  binary<std::string, std::string, std::string>(a[0], a[1], rows, out, e.type,
                                                [](const std::string& x, const std::string& y) { return x + y; });
}
KERNEL(k_neg_i) {
  unary<int64_t, int64_t>(a[0], rows, out, e.type, [&](int64_t x) {
    if (x == INT64_MIN) fail("bigint out of range", -1);
    return -x;
  });
}
KERNEL(k_neg_f) { unary<double, double>(a[0], rows, out, e.type, [](double x) { return -x; }); }

template <class T, class Cmp>
void compare(const Expr& e, const Args& a, size_t rows, Vector& out, Cmp c) {
  binary<T, T, int64_t, true>(a[0], a[1], rows, out, Type::boolean, [&](const T& x, const T& y) -> int64_t { return c(x, y); });
}
template <class T>
void compare_op(const Expr& e, const Args& a, size_t rows, Vector& out) {
  const std::string& op = e.name;
  if (op == "=") compare<T>(e, a, rows, out, [](const T& x, const T& y) { return x == y; });
  else if (op == "<>") compare<T>(e, a, rows, out, [](const T& x, const T& y) { return x != y; });
  else if (op == "<") compare<T>(e, a, rows, out, [](const T& x, const T& y) { return x < y; });
  else if (op == "<=") compare<T>(e, a, rows, out, [](const T& x, const T& y) { return x <= y; });
  else if (op == ">") compare<T>(e, a, rows, out, [](const T& x, const T& y) { return x > y; });
  else compare<T>(e, a, rows, out, [](const T& x, const T& y) { return x >= y; });
}
KERNEL(k_cmp_i) { compare_op<int64_t>(e, a, rows, out); }
// A double column against a constant that is not NaN (`velocity > 1`), the common filter: NaN
// x is above y, so each operator is one IEEE comparison (x > y or NaN is !(x <= y): SSE2's
// "not less or equal"). with_float_test calls f(vector test, scalar test) for the operator
// `op`: cmp_f_constant (a boolean column) and select_compare (a selection) share it.
template <class F>
void with_float_test(const std::string& op, F f) {
#if defined(__SSE2__)
#define MQ_VEC(intrinsic) [](__m128d v, __m128d w) { return intrinsic(v, w); }
#else
#define MQ_VEC(intrinsic) 0
#endif
  if (op == "=") f(MQ_VEC(_mm_cmpeq_pd), [](double p, double q) { return p == q; });
  else if (op == "<>") f(MQ_VEC(_mm_cmpneq_pd), [](double p, double q) { return !(p == q); });
  else if (op == "<") f(MQ_VEC(_mm_cmplt_pd), [](double p, double q) { return p < q; });
  else if (op == "<=") f(MQ_VEC(_mm_cmple_pd), [](double p, double q) { return p <= q; });
  else if (op == ">") f(MQ_VEC(_mm_cmpnle_pd), [](double p, double q) { return !(p <= q); });
  else f(MQ_VEC(_mm_cmpnlt_pd), [](double p, double q) { return !(p < q); });
#undef MQ_VEC
}

// The constant of `velocity > 1` when `b` is one that with_float_test can compare with: a
// double, not NULL, not NaN.
bool float_test_constant(const Vector& b, double& y) {
  if (!b.constant || b.type != Type::float64 || b.is_null(0) || std::isnan(b.f[0])) return false;
  y = b.f[0];
  return true;
}

// The boolean column of `a op b` (two rows at a time in SSE2: GCC vectorizes a double
// comparison into integers only with AVX2); the validity is a's. False: not that case.
bool cmp_f_constant(const std::string& op, const Vector& a, const Vector& b, size_t rows, Vector& out) {
  double y;
  if (a.constant || a.type != Type::float64 || a.f.size() < rows || !float_test_constant(b, y)) return false;
  const double* x = a.f.data();
  out.clear(Type::boolean);
  sized_for_writing(out.i, rows);
  int64_t* o = out.i.data();
  with_float_test(op, [&](auto vec, auto scalar) {
    size_t r = 0;
#if defined(__SSE2__)
    const __m128d yy = _mm_set1_pd(y);
    const __m128i one = _mm_set1_epi64x(1);
    for (; r + 2 <= rows; r += 2)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o + r), _mm_and_si128(_mm_castpd_si128(vec(_mm_loadu_pd(x + r), yy)), one));
#else
    (void)vec;
#endif
    for (; r < rows; ++r) o[r] = scalar(x[r], y);
  });
  out.valid = a.valid;
  out.size = rows;
  return true;
}

// Doubles compare as PostgreSQL's float8 does: NaN equals NaN and is above every other value.
// Each operator as IEEE comparisons and NaN tests, without branches, so the loops vectorize.
KERNEL(k_cmp_f) {
  const std::string& op = e.name;
  if (cmp_f_constant(op, a[0], a[1], rows, out)) return;
  auto run = [&](auto test) {
    binary<double, double, int64_t, true>(a[0], a[1], rows, out, Type::boolean, [&](double x, double y) -> int64_t {
      return test(x, y, std::isnan(x), std::isnan(y));
    });
  };
  if (op == "=") run([](double x, double y, bool nx, bool ny) { return (x == y) | (nx & ny); });
  else if (op == "<>") run([](double x, double y, bool nx, bool ny) { return !((x == y) | (nx & ny)); });
  else if (op == "<") run([](double x, double y, bool nx, bool ny) { return (x < y) | (!nx & ny); });
  else if (op == "<=") run([](double x, double y, bool, bool ny) { return (x <= y) | ny; });
  else if (op == ">") run([](double x, double y, bool nx, bool ny) { return (x > y) | (nx & !ny); });
  else run([](double x, double y, bool nx, bool) { return (x >= y) | nx; });
}
KERNEL(k_cmp_s) { compare_op<std::string>(e, a, rows, out); }

// ---- time ---------------------------------------------------------------------------------
// Days since 1970-01-01 of a civil date, and back (Howard Hinnant's algorithms).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}
void civil_from_days(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}
int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

struct Civil {
  int64_t year;
  unsigned month, day, hour, minute, second;
  int64_t nanos;
  unsigned weekday;  // 0 = Sunday
  unsigned yday;     // 1-based
};
Civil to_civil(int64_t ns) {
  Civil c{};
  int64_t days = floor_div(ns, kDayNs);
  int64_t rest = ns - days * kDayNs;
  civil_from_days(days, &c.year, &c.month, &c.day);
  c.hour = static_cast<unsigned>(rest / kHour);
  c.minute = static_cast<unsigned>(rest / kMin % 60);
  c.second = static_cast<unsigned>(rest / kSec % 60);
  c.nanos = rest % kSec;
  c.weekday = static_cast<unsigned>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday
  c.yday = static_cast<unsigned>(days - days_from_civil(c.year, 1, 1) + 1);
  return c;
}

KERNEL(k_now) {
  out = Vector::make_constant(Value::of_time(ctx.now_ns), rows);
}
KERNEL(k_time_bucket) {
  int64_t origin = kBucketOrigin;
  if (a.size() > 2) {
    if (!a[2].constant) fail("time_bucket's origin must be a constant", -1);
    if (!a[2].is_null(0)) origin = a[2].i[0];
  }
  if (a[0].constant && !has_nulls(a[0]) && !a[1].constant && !has_nulls(a[1]) && rows) {
    // One width over times that mostly ascend (a series' rows): a row inside the bucket of the
    // row before takes it without a division.
    const int64_t w = a[0].i[0];
    if (w <= 0) fail("interval must be greater than zero", -1);
    out.clear(Type::timestamp);
    sized_for_writing(out.i, rows);
    const int64_t* t = a[1].i.data();
    int64_t lo = 1, hi = 0;  // the last bucket: [lo, hi)
    for (size_t r = 0; r < rows; ++r) {
      if (t[r] < lo || t[r] >= hi) {
        lo = time_bucket(w, t[r], origin);
        if (lo > t[r] || __builtin_add_overflow(lo, w, &hi)) hi = lo;  // not cached
      }
      out.i[r] = lo;
    }
    out.size = rows;
    return;
  }
  binary<int64_t, int64_t, int64_t>(a[0], a[1], rows, out, Type::timestamp, [&](int64_t w, int64_t t) {
    if (w <= 0) fail("interval must be greater than zero", -1);
    return time_bucket(w, t, origin);
  });
}
KERNEL(k_gapfill_bucket) {
  binary<int64_t, int64_t, int64_t>(a[0], a[1], rows, out, Type::timestamp, [&](int64_t w, int64_t t) {
    if (w <= 0) fail("interval must be greater than zero", -1);
    return time_bucket(w, t, kBucketOrigin);
  });
}
KERNEL(k_date_trunc) {
  std::string tz = ctx.tz;
  if (a.size() > 2) {
    if (!a[2].constant || a[2].is_null(0)) fail("date_trunc's time zone must be a constant", -1);
    tz = a[2].s[0];
    // A bare offset names a POSIX zone, whose sign is west of Greenwich ('+09' is UTC-9), as
    // in PostgreSQL.
    if (!tz.empty() && (tz[0] == '+' || tz[0] == '-')) tz[0] = tz[0] == '+' ? '-' : '+';
  }
  binary<std::string, int64_t, int64_t>(a[0], a[1], rows, out, Type::timestamp, [&](const std::string& u, int64_t t) {
    return date_trunc(u, t, tz, -1);
  });
}
double part_of(std::string_view unit, int64_t ns, std::string_view tz, int loc) {
  std::string u(unit);
  for (auto& ch : u) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (u == "epoch") return static_cast<double>(ns) / kSec;
  Civil c = to_civil(ns + tz_offset(tz, ns, loc));
  if (u == "year" || u == "years") return static_cast<double>(c.year);
  if (u == "month" || u == "months") return c.month;
  if (u == "day" || u == "days") return c.day;
  if (u == "hour" || u == "hours") return c.hour;
  if (u == "minute" || u == "minutes") return c.minute;
  if (u == "second" || u == "seconds") return c.second + static_cast<double>(c.nanos) / kSec;
  if (u == "milliseconds") return c.second * 1000.0 + static_cast<double>(c.nanos) / kMs;
  if (u == "microseconds") return c.second * 1e6 + static_cast<double>(c.nanos) / kUs;
  if (u == "dow") return c.weekday;
  if (u == "isodow") return c.weekday == 0 ? 7 : c.weekday;
  if (u == "doy") return c.yday;
  if (u == "quarter") return (c.month - 1) / 3 + 1;
  fail("unit \"" + std::string(unit) + "\" not recognized for type timestamp with time zone", loc);
}
KERNEL(k_date_part) {
  binary<std::string, int64_t, double>(a[0], a[1], rows, out, Type::float64, [&](const std::string& u, int64_t t) {
    return part_of(u, t, ctx.tz, -1);
  });
}
KERNEL(k_to_timestamp) {
  unary<double, int64_t>(a[0], rows, out, Type::timestamp, [&](double s) {
    if (!std::isfinite(s) || std::fabs(s) > 9.2e9) fail("timestamp out of range", -1);
    return static_cast<int64_t>(std::llround(s * 1e9));
  });
}

// ---- math and text ------------------------------------------------------------------------
template <double (*F)(double)>
KERNEL(k_math) {
  unary<double, double>(a[0], rows, out, Type::float64, [](double x) { return F(x); });
}
double d_floor(double x) { return std::floor(x); }
double d_ceil(double x) { return std::ceil(x); }
double d_round(double x) { return std::nearbyint(x); }  // half to even, as PostgreSQL's round(double)
double d_trunc(double x) { return std::trunc(x); }
double d_abs(double x) { return std::fabs(x); }
double d_exp(double x) { return std::exp(x); }
double d_sign(double x) { return x > 0 ? 1 : x < 0 ? -1 : 0; }
KERNEL(k_sqrt) {
  unary<double, double>(a[0], rows, out, Type::float64, [&](double x) {
    if (x < 0) fail("cannot take square root of a negative number", -1);
    return std::sqrt(x);
  });
}
KERNEL(k_ln) {
  unary<double, double>(a[0], rows, out, Type::float64, [&](double x) {
    if (x == 0) fail("cannot take logarithm of zero", -1);
    if (x < 0) fail("cannot take logarithm of a negative number", -1);
    return e.name == "log" || e.name == "log10" ? std::log10(x) : std::log(x);
  });
}
KERNEL(k_power) {
  binary<double, double, double>(a[0], a[1], rows, out, Type::float64, [](double x, double y) { return std::pow(x, y); });
}
KERNEL(k_round2) {
  binary<double, int64_t, double>(a[0], a[1], rows, out, Type::float64, [](double x, int64_t d) {
    double p = std::pow(10.0, static_cast<double>(d));
    return std::round(x * p) / p;
  });
}
KERNEL(k_abs_i) {
  unary<int64_t, int64_t>(a[0], rows, out, Type::int64, [&](int64_t x) {
    if (x == INT64_MIN) fail("bigint out of range", -1);
    return x < 0 ? -x : x;
  });
}
KERNEL(k_lower) {
  unary<std::string, std::string>(a[0], rows, out, Type::text, [&](const std::string& x) {
    std::string r = x;
    for (auto& ch : r) ch = static_cast<char>(e.name == "upper" ? std::toupper(static_cast<unsigned char>(ch))
                                                                 : std::tolower(static_cast<unsigned char>(ch)));
    return r;
  });
}
size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
  return n;
}
KERNEL(k_length) {
  unary<std::string, int64_t>(a[0], rows, out, Type::int64, [](const std::string& x) { return static_cast<int64_t>(utf8_length(x)); });
}
KERNEL(k_substr) {
  // substr(s, from [, count]), 1-based, in characters (bytes for ASCII; good enough for now).
  out.clear(Type::text);
  for (size_t r = 0; r < rows; ++r) {
    bool null = false;
    for (auto& v : a) null |= v.is_null(r);
    if (null) {
      out.push_null();
      continue;
    }
    const std::string& s = a[0].s[a[0].at(r)];
    int64_t from = a[1].i[a[1].at(r)];
    int64_t end = a.size() > 2 ? from + a[2].i[a[2].at(r)] : INT64_MAX;
    if (a.size() > 2 && a[2].i[a[2].at(r)] < 0) fail("negative substring length not allowed", -1);
    int64_t lo = std::max<int64_t>(from, 1) - 1, hi = std::min<int64_t>(end - 1, static_cast<int64_t>(s.size()));
    out.push(Value::of_text(lo < hi ? s.substr(static_cast<size_t>(lo), static_cast<size_t>(hi - lo)) : ""));
  }
}
KERNEL(k_replace) {
  out.clear(Type::text);
  for (size_t r = 0; r < rows; ++r) {
    if (a[0].is_null(r) || a[1].is_null(r) || a[2].is_null(r)) {
      out.push_null();
      continue;
    }
    std::string s = a[0].s[a[0].at(r)];
    const std::string& from = a[1].s[a[1].at(r)];
    const std::string& to = a[2].s[a[2].at(r)];
    if (!from.empty()) {
      std::string res;
      size_t p = 0, q;
      while ((q = s.find(from, p)) != std::string::npos) {
        res.append(s, p, q - p).append(to);
        p = q + from.size();
      }
      res.append(s, p);
      s = std::move(res);
    }
    out.push(Value::of_text(s));
  }
}
KERNEL(k_concat_fn) {
  // concat(...): NULLs are skipped (PostgreSQL's concat, unlike ||).
  out.clear(Type::text);
  for (size_t r = 0; r < rows; ++r) {
    std::string s;
    for (auto& v : a)
      if (!v.is_null(r)) s += v.s[v.at(r)];
    out.push(Value::of_text(s));
  }
}
// coalesce, greatest, least, nullif: row by row over Values (rare, and the args share a type).
int compare_values(const Value& x, const Value& y) {
  if (uses_ints(x.type)) return x.i < y.i ? -1 : x.i > y.i;
  if (x.type == Type::float64) return x.f < y.f ? -1 : x.f > y.f;
  return x.s.compare(y.s) < 0 ? -1 : x.s == y.s ? 0 : 1;
}
KERNEL(k_coalesce) {
  out.clear(e.type);
  for (size_t r = 0; r < rows; ++r) {
    Value v = Value::make_null(e.type);
    for (auto& x : a)
      if (!x.is_null(r)) {
        v = x.get(r);
        break;
      }
    out.push(v);
  }
}
KERNEL(k_greatest) {
  bool least = e.name == "least";
  out.clear(e.type);
  for (size_t r = 0; r < rows; ++r) {
    Value best = Value::make_null(e.type);
    for (auto& x : a) {
      if (x.is_null(r)) continue;
      Value v = x.get(r);
      if (best.null || (least ? compare_values(v, best) < 0 : compare_values(v, best) > 0)) best = v;
    }
    out.push(best);
  }
}
KERNEL(k_nullif) {
  out.clear(e.type);
  for (size_t r = 0; r < rows; ++r) {
    Value x = a[0].get(r);
    if (!x.null && !a[1].is_null(r) && compare_values(x, a[1].get(r)) == 0) out.push_null();
    else out.push(x);
  }
}

// ---- casts ----------------------------------------------------------------------------------
std::string to_text(const Vector& v, size_t r) {
  size_t k = v.at(r);
  switch (v.type) {
    case Type::boolean: return v.i[k] ? "true" : "false";
    case Type::int64: return std::to_string(v.i[k]);
    case Type::float64: return format_double(v.f[k]);
    case Type::timestamp: return format_timestamp(v.i[k]);
    case Type::interval: return format_interval(v.i[k]);
    case Type::text:
    case Type::json: return v.s[k];
    case Type::null: break;
  }
  return "";
}

bool parse_int(std::string_view s, int64_t* out) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}
bool parse_float(std::string_view s, double* out) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  std::string low(s);
  for (auto& ch : low) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (low == "nan") return *out = NAN, true;
  if (low == "infinity" || low == "inf") return *out = INFINITY, true;
  if (low == "-infinity" || low == "-inf") return *out = -INFINITY, true;
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}
bool parse_bool(std::string_view s, bool* out) {
  std::string low(s);
  for (auto& ch : low) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  while (!low.empty() && low.back() == ' ') low.pop_back();
  while (!low.empty() && low.front() == ' ') low.erase(0, 1);
  if (low == "t" || low == "true" || low == "yes" || low == "y" || low == "on" || low == "1") return *out = true, true;
  if (low == "f" || low == "false" || low == "no" || low == "n" || low == "off" || low == "0") return *out = false, true;
  return false;
}

KERNEL(k_cast) {
  const Vector& in = a[0];
  Type to = e.type;
  size_t n = in.constant ? (rows ? 1 : 0) : rows;
  out.clear(to);
  for (size_t r = 0; r < n; ++r) {
    if (in.is_null(r)) {
      out.push_null();
      continue;
    }
    Value v = in.get(r);
    out.push(cast_value(v, to, -1));
  }
  out.constant = in.constant;
  out.size = rows;
}

bool like_match(std::string_view s, std::string_view p, bool ci) {
  // Iterative wildcard match with backtracking on the last '%'; '\' escapes.
  size_t si = 0, pi = 0, star_p = std::string_view::npos, star_s = 0;
  auto eq = [&](char a, char b) {
    return ci ? std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)) : a == b;
  };
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '%') {
      star_p = ++pi;
      star_s = si;
      continue;
    }
    if (pi < p.size()) {
      char pc = p[pi];
      size_t adv = 1;
      bool any = pc == '_';
      if (pc == '\\' && pi + 1 < p.size()) {
        pc = p[pi + 1];
        adv = 2;
        any = false;
      }
      if (any || eq(s[si], pc)) {
        ++si;
        pi += adv;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    pi = star_p;
    si = ++star_s;
  }
  while (pi < p.size() && p[pi] == '%') ++pi;
  return pi == p.size();
}

}  // namespace

// ---- time helpers ------------------------------------------------------------------------------
int64_t time_bucket(int64_t width, int64_t ns, int64_t origin) {
  return origin + floor_div(ns - origin, width) * width;
}

int64_t tz_offset(std::string_view tz, int64_t ns, int location) {
  if (tz.empty() || tz == "UTC" || tz == "utc" || tz == "Z" || tz == "GMT" || tz == "Etc/UTC") return 0;
  if (tz[0] == '+' || tz[0] == '-') {
    int h = 0, m = 0;
    std::string t(tz.substr(1));
    if (std::sscanf(t.c_str(), "%d:%d", &h, &m) >= 1 && h <= 15 && m < 60)
      return (tz[0] == '-' ? -1 : 1) * (h * kHour + m * kMin);
    fail("time zone \"" + std::string(tz) + "\" not recognized", location);
  }
  int64_t off = 0;
  std::string error;
  if (!ingest::utc_offset(tz, ns, &off, &error)) fail("time zone \"" + std::string(tz) + "\" not recognized", location);
  return off;
}

int64_t date_trunc(std::string_view unit, int64_t ns, std::string_view tz, int location) {
  std::string u(unit);
  for (auto& ch : u) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (!u.empty() && u.back() == 's' && u != "s") u.pop_back();  // "hours" -> "hour"
  int64_t off = tz_offset(tz, ns, location);
  int64_t local = ns + off;
  int64_t t;
  if (u == "nanosecond") t = local;
  else if (u == "microsecond") t = floor_div(local, kUs) * kUs;
  else if (u == "millisecond") t = floor_div(local, kMs) * kMs;
  else if (u == "second") t = floor_div(local, kSec) * kSec;
  else if (u == "minute") t = floor_div(local, kMin) * kMin;
  else if (u == "hour") t = floor_div(local, kHour) * kHour;
  else if (u == "day") t = floor_div(local, kDayNs) * kDayNs;
  else if (u == "week") {
    int64_t days = floor_div(local, kDayNs);
    int64_t monday = days - ((days + 3) % 7 + 7) % 7;  // 1970-01-05 was a Monday
    t = monday * kDayNs;
  } else {
    Civil c = to_civil(local);
    int64_t y = c.year;
    unsigned m = c.month;
    if (u == "month") {
    } else if (u == "quarter") m = (m - 1) / 3 * 3 + 1;
    else if (u == "year") m = 1;
    else if (u == "decade") m = 1, y = floor_div(y, 10) * 10;
    else if (u == "century") m = 1, y = floor_div(y - 1, 100) * 100 + 1;
    else if (u == "millennium") m = 1, y = floor_div(y - 1, 1000) * 1000 + 1;
    else fail("unit \"" + std::string(unit) + "\" not recognized for type timestamp with time zone", location);
    t = days_from_civil(y, m, 1) * kDayNs;
  }
  if (off == 0 && (tz.empty() || tz == "UTC")) return t;
  // Back to UTC with the offset in force at the truncated local time.
  int64_t guess = t - off;
  return t - tz_offset(tz, guess, location);
}

bool parse_interval(std::string_view text, int64_t* ns, std::string* error) {
  std::string s(text);
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  size_t p = 0;
  double total = 0;
  bool any = false;
  auto skip = [&] { while (p < s.size() && std::isspace(static_cast<unsigned char>(s[p]))) ++p; };
  skip();
  bool negate_all = false;
  if (p < s.size() && s[p] == '@') ++p, skip();
  while (p < s.size()) {
    skip();
    if (p >= s.size()) break;
    // hh:mm[:ss[.frac]]
    size_t start = p;
    bool neg = false;
    if (s[p] == '-' || s[p] == '+') neg = s[p++] == '-';
    size_t num_start = p;
    while (p < s.size() && (std::isdigit(static_cast<unsigned char>(s[p])) || s[p] == '.')) ++p;
    if (p == num_start) {
      if (s.compare(p, 3, "ago") == 0) {
        negate_all = true;
        p += 3;
        continue;
      }
      *error = "invalid input syntax for type interval: \"" + std::string(text) + "\"";
      return false;
    }
    if (p < s.size() && s[p] == ':') {
      int h = 0, m = 0;
      double sec = 0;
      std::string part = s.substr(num_start);
      int consumed = 0;
      if (std::sscanf(part.c_str(), "%d:%d%n", &h, &m, &consumed) < 2) {
        *error = "invalid input syntax for type interval: \"" + std::string(text) + "\"";
        return false;
      }
      p = num_start + static_cast<size_t>(consumed);
      if (p < s.size() && s[p] == ':') {
        size_t q = ++p;
        while (p < s.size() && (std::isdigit(static_cast<unsigned char>(s[p])) || s[p] == '.')) ++p;
        sec = std::strtod(s.substr(q, p - q).c_str(), nullptr);
      }
      double v = h * 3600.0 + m * 60.0 + sec;
      total += (neg ? -v : v) * 1e9;
      any = true;
      continue;
    }
    double v = std::strtod(s.substr(start, p - start).c_str(), nullptr);
    skip();
    size_t u0 = p;
    while (p < s.size() && std::isalpha(static_cast<unsigned char>(s[p]))) ++p;
    std::string unit = s.substr(u0, p - u0);
    double mul;
    if (unit == "ns" || unit == "nanosecond" || unit == "nanoseconds") mul = 1;
    else if (unit == "us" || unit == "usec" || unit == "usecs" || unit == "microsecond" || unit == "microseconds") mul = 1e3;
    else if (unit == "ms" || unit == "msec" || unit == "msecs" || unit == "millisecond" || unit == "milliseconds") mul = 1e6;
    else if (unit.empty() || unit == "s" || unit == "sec" || unit == "secs" || unit == "second" || unit == "seconds") mul = 1e9;
    else if (unit == "m" || unit == "min" || unit == "mins" || unit == "minute" || unit == "minutes") mul = 60e9;
    else if (unit == "h" || unit == "hr" || unit == "hrs" || unit == "hour" || unit == "hours") mul = 3600e9;
    else if (unit == "d" || unit == "day" || unit == "days") mul = 86400e9;
    else if (unit == "w" || unit == "week" || unit == "weeks") mul = 7 * 86400e9;
    else if (unit == "mon" || unit == "mons" || unit == "month" || unit == "months" || unit == "y" || unit == "year" ||
             unit == "years") {
      *error = "interval units of months and years are not supported (not a fixed length): \"" + std::string(text) + "\"";
      return false;
    } else {
      *error = "invalid input syntax for type interval: \"" + std::string(text) + "\"";
      return false;
    }
    total += v * mul;
    any = true;
  }
  if (!any) {
    *error = "invalid input syntax for type interval: \"" + std::string(text) + "\"";
    return false;
  }
  if (negate_all) total = -total;
  if (std::fabs(total) > 9.2e18) {
    *error = "interval out of range";
    return false;
  }
  *ns = static_cast<int64_t>(std::llround(total));
  return true;
}

bool parse_timestamp(std::string_view text, std::string_view tz, int64_t* ns, std::string* error) {
  std::string s(text);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t p = 0;
  while (p < s.size() && std::isspace(static_cast<unsigned char>(s[p]))) ++p;
  auto bad = [&] {
    *error = "invalid input syntax for type timestamp with time zone: \"" + std::string(text) + "\"";
    return false;
  };
  auto digits = [&](int n, int64_t* v) {
    *v = 0;
    for (int k = 0; k < n; ++k) {
      if (p >= s.size() || !std::isdigit(static_cast<unsigned char>(s[p]))) return false;
      *v = *v * 10 + (s[p++] - '0');
    }
    return true;
  };
  int64_t y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
  if (!digits(4, &y) || p >= s.size() || s[p++] != '-' || !digits(2, &mo) || p >= s.size() || s[p++] != '-' ||
      !digits(2, &d))
    return bad();
  if (mo < 1 || mo > 12 || d < 1 || d > 31) {
    *error = "date/time field value out of range: \"" + std::string(text) + "\"";
    return false;
  }
  if (p < s.size() && (s[p] == ' ' || s[p] == 'T' || s[p] == 't')) {
    ++p;
    if (!digits(2, &h) || p >= s.size() || s[p++] != ':' || !digits(2, &mi)) return bad();
    if (p < s.size() && s[p] == ':') {
      ++p;
      if (!digits(2, &sec)) return bad();
      if (p < s.size() && s[p] == '.') {
        ++p;
        int n = 0;
        while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) {
          if (n < 9) frac = frac * 10 + (s[p] - '0'), ++n;
          ++p;
        }
        while (n++ < 9) frac *= 10;
      }
    }
    if (h > 24 || mi > 59 || sec > 60) {
      *error = "date/time field value out of range: \"" + std::string(text) + "\"";
      return false;
    }
  }
  while (p < s.size() && s[p] == ' ') ++p;
  int64_t seconds = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 + mi * 60 + sec;
  // Nanoseconds since 1970 in 64 bits: 1677-09-21 to 2262-04-11 (less two days, room for any
  // zone's offset).
  constexpr int64_t kMaxSeconds = INT64_MAX / kSec - 2 * 86400;
  if (seconds > kMaxSeconds || seconds < -kMaxSeconds) {
    *error = "timestamp out of range: \"" + std::string(text) + "\"";
    return false;
  }
  int64_t local = seconds * kSec + frac;
  if (p == s.size()) {
    try {
      int64_t off = tz_offset(tz, local, -1);
      *ns = local - tz_offset(tz, local - off, -1);
    } catch (const QueryError& e) {
      *error = e.what();
      return false;
    }
    return true;
  }
  if (s[p] == 'Z' || s[p] == 'z') {
    if (p + 1 != s.size()) return bad();
    *ns = local;
    return true;
  }
  if (s[p] == '+' || s[p] == '-') {
    int sign = s[p++] == '-' ? -1 : 1;
    int64_t oh, om = 0;
    if (!digits(2, &oh)) return bad();
    if (p < s.size() && s[p] == ':') ++p;
    if (p < s.size() && !digits(2, &om)) return bad();
    if (p != s.size()) return bad();
    *ns = local - sign * (oh * kHour + om * kMin);
    return true;
  }
  // A zone name after the time: '2024-01-01 00:00:00 Asia/Seoul'.
  std::string zone = s.substr(p);
  try {
    int64_t off = tz_offset(zone, local, -1);
    *ns = local - tz_offset(zone, local - off, -1);
  } catch (const QueryError&) {
    return bad();
  }
  return true;
}

std::string format_timestamp(int64_t ns) {
  Civil c = to_civil(ns);
  char b[64];
  int n = std::snprintf(b, sizeof b, "%04lld-%02u-%02u %02u:%02u:%02u", static_cast<long long>(c.year), c.month, c.day,
                        c.hour, c.minute, c.second);
  std::string out(b, static_cast<size_t>(n));
  if (c.nanos) {
    char f[16];
    std::snprintf(f, sizeof f, ".%09lld", static_cast<long long>(c.nanos));
    std::string fs(f);
    while (fs.back() == '0') fs.pop_back();
    out += fs;
  }
  return out + "+00";
}

std::string format_interval(int64_t ns) {
  std::string out;
  bool neg = ns < 0;
  uint64_t u = neg ? 0 - static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
  uint64_t days = u / kDayNs;
  u %= kDayNs;
  if (days) out = (neg ? "-" : "") + std::to_string(days) + (days == 1 ? " day" : " days");
  if (u || !days) {
    char b[48];
    std::snprintf(b, sizeof b, "%s%02llu:%02llu:%02llu", neg ? "-" : "", static_cast<unsigned long long>(u / kHour),
                  static_cast<unsigned long long>(u / kMin % 60), static_cast<unsigned long long>(u / kSec % 60));
    if (!out.empty()) out += ' ';
    out += b;
    if (u % kSec) {
      char f[16];
      std::snprintf(f, sizeof f, ".%09llu", static_cast<unsigned long long>(u % kSec));
      std::string fs(f);
      while (fs.back() == '0') fs.pop_back();
      out += fs;
    }
  }
  return out;
}

std::string format_double(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char b[32];
  auto [p, ec] = std::to_chars(b, b + sizeof b, d);
  return std::string(b, p);
}

Value cast_value(const Value& v, Type to, int location) {
  if (v.null) return Value::make_null(to);
  if (v.type == to) return v;
  auto bad_input = [&](const std::string& text) -> Value {
    fail("invalid input syntax for type " + pg_type(to) + ": \"" + text + "\"", location);
  };
  auto no_cast = [&]() -> Value {
    fail("cannot cast type " + pg_type(v.type) + " to " + pg_type(to), location);
  };
  if (to == Type::text || (to == Type::json && v.type != Type::text)) {
    Vector one;
    one.clear(v.type);
    one.push(v);
    return Value::of_text(to_text(one, 0), to);
  }
  if (v.type == Type::text || v.type == Type::json) {
    const std::string& s = v.s;
    switch (to) {
      case Type::int64: {
        int64_t x;
        if (!parse_int(s, &x)) {
          double d;
          if (parse_float(s, &d) && v.type == Type::json) return Value::of_int(static_cast<int64_t>(std::llround(d)));
          return bad_input(s);
        }
        return Value::of_int(x);
      }
      case Type::float64: {
        double x;
        if (!parse_float(s, &x)) return bad_input(s);
        return Value::of_float(x);
      }
      case Type::boolean: {
        bool b;
        if (!parse_bool(s, &b)) return bad_input(s);
        return Value::of_bool(b);
      }
      case Type::timestamp: {
        int64_t ns;
        std::string err;
        if (!parse_timestamp(s, "UTC", &ns, &err)) fail(err, location);
        return Value::of_time(ns);
      }
      case Type::interval: {
        int64_t ns;
        std::string err;
        if (!parse_interval(s, &ns, &err)) fail(err, location);
        return Value::of_interval(ns);
      }
      case Type::json: return Value::of_text(s, Type::json);
      default: return no_cast();
    }
  }
  switch (to) {
    case Type::int64:
      if (v.type == Type::float64) {
        if (!std::isfinite(v.f) || std::fabs(v.f) >= 9.2233720368547758e18) fail("bigint out of range", location);
        return Value::of_int(static_cast<int64_t>(std::nearbyint(v.f)));
      }
      if (v.type == Type::boolean) return Value::of_int(v.i);
      return no_cast();
    case Type::float64:
      if (v.type == Type::int64) return Value::of_float(static_cast<double>(v.i));
      return no_cast();
    case Type::boolean:
      if (v.type == Type::int64) return Value::of_bool(v.i != 0);
      return no_cast();
    default: return no_cast();
  }
}

// ---- Expr -------------------------------------------------------------------------------------
ExprPtr Expr::clone() const {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->type = type;
  e->value = value;
  e->column = column;
  e->name = name;
  e->kernel = kernel;
  for (auto& a : args) e->args.push_back(a->clone());
  e->negate = negate;
  e->ci = ci;
  e->has_operand = has_operand;
  e->has_else = has_else;
  e->distinct = distinct;
  e->star = star;
  e->untyped = untyped;
  e->location = location;
  if (filter) e->filter = filter->clone();
  e->window_args = window_args;
  e->window_partitions = window_partitions;
  e->window_order = window_order;
  e->window_frame = window_frame;
  e->frame_start = frame_start;
  e->frame_end = frame_end;
  return e;
}

bool Expr::same(const Expr& o) const {
  if (kind != o.kind || type != o.type || args.size() != o.args.size() || negate != o.negate || ci != o.ci ||
      distinct != o.distinct || star != o.star || has_operand != o.has_operand || has_else != o.has_else)
    return false;
  // A double literal by its bits: 'NaN' is the same literal as 'NaN' (== says no), and 0 is not -0.
  if (kind == ExprKind::constant &&
      (value.type != o.value.type || value.null != o.value.null || value.i != o.value.i || value.s != o.value.s ||
       std::memcmp(&value.f, &o.value.f, sizeof(double)) != 0))
    return false;
  if (kind == ExprKind::column && column != o.column) return false;
  if ((kind == ExprKind::call || kind == ExprKind::aggregate || kind == ExprKind::window) && name != o.name) return false;
  if (kind == ExprKind::window &&
      (window_args != o.window_args || window_partitions != o.window_partitions || window_order != o.window_order ||
       window_frame != o.window_frame || frame_start != o.frame_start || frame_end != o.frame_end))
    return false;
  if (!filter != !o.filter || (filter && !filter->same(*o.filter))) return false;
  for (size_t k = 0; k < args.size(); ++k)
    if (!args[k]->same(*o.args[k])) return false;
  return true;
}

bool Expr::has_columns() const {
  if (kind == ExprKind::column || kind == ExprKind::aggregate || kind == ExprKind::window) return true;
  for (auto& a : args)
    if (a->has_columns()) return true;
  return false;
}

bool Expr::has_windows() const {
  if (kind == ExprKind::window) return true;
  for (auto& a : args)
    if (a->has_windows()) return true;
  return false;
}

bool Expr::has_aggregates() const {
  if (kind == ExprKind::aggregate) return true;
  for (auto& a : args)
    if (a->has_aggregates()) return true;
  return false;
}

bool select_compare(const Expr& e, const Chunk& in, const EvalContext& ctx, std::vector<uint32_t>& sel) {
  if (e.kind != ExprKind::call || e.kernel != k_cmp_f || e.args.size() != 2 || e.args[0]->kind != ExprKind::column) return false;
  const size_t c = static_cast<size_t>(e.args[0]->column);
  if (c >= in.columns.size()) return false;
  const Vector& a = in.columns[c];
  const size_t rows = in.rows;
  if (a.constant || a.type != Type::float64 || a.f.size() < rows || (!a.valid.empty() && a.valid.size() < rows)) return false;
  const Expr& k = *e.args[1];
  if (k.kind != ExprKind::constant && !(k.kind == ExprKind::cast && k.args.size() == 1 && k.args[0]->kind == ExprKind::constant))
    return false;
  double y;
  if (!float_test_constant(eval(k, in, ctx), y)) return false;
  const double* x = a.f.data();
  const uint8_t* ok = a.valid.empty() ? nullptr : a.valid.data();
  sel.resize(rows);
  uint32_t* out = sel.data();
  size_t n = 0;
  // Each row's index written, and kept when its comparison holds and it has a value: the
  // boolean column and its second pass skipped.
  with_float_test(e.name, [&](auto, auto test) {
    if (ok)
      for (size_t r = 0; r < rows; ++r) {
        out[n] = static_cast<uint32_t>(r);
        n += test(x[r], y) & (ok[r] != 0);
      }
    else
      for (size_t r = 0; r < rows; ++r) {
        out[n] = static_cast<uint32_t>(r);
        n += test(x[r], y);
      }
  });
  sel.resize(n);
  return true;
}

void select_true(const Vector& v, size_t rows, std::vector<uint32_t>& sel) {
  sel.clear();
  if (v.constant) {
    if (!v.is_null(0) && v.i[0])
      for (size_t r = 0; r < rows; ++r) sel.push_back(static_cast<uint32_t>(r));
    return;
  }
  if (v.type == Type::null) return;  // NULL is not true
  // Branch-free: every row's index is written, and kept (n advances) only when it is true.
  sel.resize(rows);
  size_t n = 0;
  if (!has_nulls(v)) {
    for (size_t r = 0; r < rows; ++r) {
      sel[n] = static_cast<uint32_t>(r);
      n += v.i[r] != 0;
    }
  } else {
    for (size_t r = 0; r < rows; ++r) {
      sel[n] = static_cast<uint32_t>(r);
      n += (v.i[r] != 0) & (v.valid[r] != 0);
    }
  }
  sel.resize(n);
}

void take_rows(Vector& v, const std::vector<uint32_t>& sel) {
  if (v.constant) {
    v.size = sel.size();
    return;
  }
  // In place: `sel` ascends, so row sel[j] >= j is read before anything is written over it (no
  // new vector per column and chunk: a filter's copies were a seventh of a full scan's time).
  auto pick = [&](auto& vec) {
    using T = typename std::decay_t<decltype(vec)>::value_type;
    const size_t n = sel.size();
    if constexpr (std::is_same_v<T, std::string>) {
      for (size_t j = 0; j < n; ++j)
        if (sel[j] != j) vec[j] = std::move(vec[sel[j]]);
    } else {
      for (size_t j = 0; j < n; ++j) vec[j] = vec[sel[j]];
    }
    vec.resize(n);
  };
  if (!v.valid.empty()) pick(v.valid);
  if (uses_ints(v.type)) pick(v.i);
  else if (v.type == Type::float64) pick(v.f);
  else if (uses_strings(v.type)) pick(v.s);
  v.size = sel.size();
}

void take_rows(Chunk& c, const std::vector<uint32_t>& sel) {
  for (auto& v : c.columns) take_rows(v, sel);
  c.rows = sel.size();
}

namespace {

// AND / OR of `vs` over `rows` rows, column at a time (three-valued): a constant that
// decides (false for AND, true for OR) is the answer and the other non-NULL constants drop
// out; then a row is decided when an operand decides it, else NULL when an operand is NULL,
// else the neutral value, in loops the compiler vectorizes. A chunk's tag comparisons are
// constants (one series), so `velocity > 1 AND fleet <> ''` costs a pass over velocity's result.
void combine_columns(const std::vector<Vector>& vs, bool is_and, size_t rows, Vector& out) {
  std::vector<const Vector*> live;
  bool null_constant = false;
  for (const Vector& v : vs) {
    if (!v.constant) {
      live.push_back(&v);
    } else if (v.is_null(0)) {
      null_constant = true;
    } else if ((v.i[0] != 0) != is_and) {
      out = Vector::make_constant(Value::of_bool(!is_and), rows);
      return;
    }
  }
  // decided[r]: an operand decides row r; unknown[r]: an operand is NULL in row r.
  std::vector<uint8_t> decided(rows, 0), unknown(rows, null_constant);
  bool any_unknown = null_constant;
  for (const Vector* v : live) {
    if (v->type == Type::null) {
      std::fill(unknown.begin(), unknown.end(), 1);
      any_unknown = true;
      continue;
    }
    const int64_t* x = v->i.data();
    uint8_t* d = decided.data();
    if (v->valid.empty()) {
      if (is_and)
        for (size_t r = 0; r < rows; ++r) d[r] |= x[r] == 0;
      else
        for (size_t r = 0; r < rows; ++r) d[r] |= x[r] != 0;
      continue;
    }
    const uint8_t* ok = v->valid.data();
    uint8_t* u = unknown.data();
    if (is_and)
      for (size_t r = 0; r < rows; ++r) d[r] |= (ok[r] != 0) & (x[r] == 0);
    else
      for (size_t r = 0; r < rows; ++r) d[r] |= (ok[r] != 0) & (x[r] != 0);
    for (size_t r = 0; r < rows; ++r) u[r] |= ok[r] == 0;
    any_unknown = true;
  }
  out.i.resize(rows);
  int64_t* o = out.i.data();
  const uint8_t* d = decided.data();
  const uint8_t* u = unknown.data();
  // AND: true when nothing decided it and nothing is unknown; OR: true when decided.
  if (is_and)
    for (size_t r = 0; r < rows; ++r) o[r] = !(d[r] | u[r]);
  else
    for (size_t r = 0; r < rows; ++r) o[r] = d[r];
  if (any_unknown) {
    bool any_null = false;
    for (size_t r = 0; r < rows; ++r) {
      unknown[r] = d[r] | !u[r];  // now: valid
      any_null |= !unknown[r];
    }
    if (any_null) out.valid = std::move(unknown);
  }
  out.size = rows;
}

Vector eval_bool_logic(const Expr& e, const Chunk& in, const EvalContext& ctx) {
  size_t rows = in.rows;
  Vector out;
  out.clear(Type::boolean);
  if (e.kind == ExprKind::not_) {
    Vector a = eval(*e.args[0], in, ctx);
    unary<int64_t, int64_t>(a, rows, out, Type::boolean, [](int64_t x) -> int64_t { return !x; });
    return out;
  }
  bool is_and = e.kind == ExprKind::and_;
  std::vector<Vector> vs;
  bool all_const = true;
  for (auto& a : e.args) {
    vs.push_back(eval(*a, in, ctx));
    all_const &= vs.back().constant;
  }
  // Constants only: one row, standing for all.
  combine_columns(vs, is_and, all_const ? std::min<size_t>(rows, 1) : rows, out);
  if (all_const) out.constant = true;
  out.size = rows;
  return out;
}

Vector eval_in(const Expr& e, const Chunk& in, const EvalContext& ctx) {
  size_t rows = in.rows;
  Vector x = eval(*e.args[0], in, ctx);
  std::vector<Vector> list;
  for (size_t k = 1; k < e.args.size(); ++k) list.push_back(eval(*e.args[k], in, ctx));
  Vector out;
  out.clear(Type::boolean);
  out.i.resize(rows);
  std::vector<uint8_t> valid(rows, 1);
  bool any_null = false;
  for (size_t r = 0; r < rows; ++r) {
    if (x.is_null(r)) {
      valid[r] = 0;
      any_null = true;
      continue;
    }
    bool found = false, unknown = false;
    size_t xr = x.at(r);
    for (auto& v : list) {
      if (v.is_null(r)) {
        unknown = true;
        continue;
      }
      size_t vr = v.at(r);
      bool eq = uses_ints(x.type) ? x.i[xr] == v.i[vr] : x.type == Type::float64 ? x.f[xr] == v.f[vr] : x.s[xr] == v.s[vr];
      if (eq) {
        found = true;
        break;
      }
    }
    if (found) out.i[r] = !e.negate;
    else if (unknown) valid[r] = 0, any_null = true;
    else out.i[r] = e.negate;
  }
  if (any_null) out.valid = std::move(valid);
  out.size = rows;
  return out;
}

Vector eval_case(const Expr& e, const Chunk& in, const EvalContext& ctx) {
  size_t rows = in.rows;
  Vector operand;
  size_t k = 0;
  if (e.has_operand) operand = eval(*e.args[k++], in, ctx);
  std::vector<std::pair<Vector, Vector>> arms;
  size_t end = e.args.size() - (e.has_else ? 1 : 0);
  for (; k + 1 < end + 1 && k < end; k += 2) arms.emplace_back(eval(*e.args[k], in, ctx), eval(*e.args[k + 1], in, ctx));
  Vector otherwise;
  if (e.has_else) otherwise = eval(*e.args.back(), in, ctx);
  Vector out;
  out.clear(e.type);
  out.reserve(rows);
  for (size_t r = 0; r < rows; ++r) {
    bool done = false;
    for (auto& [when, then] : arms) {
      bool hit;
      if (e.has_operand) {
        hit = !when.is_null(r) && !operand.is_null(r) && compare_values(operand.get(r), when.get(r)) == 0;
      } else {
        hit = !when.is_null(r) && when.i[when.at(r)];
      }
      if (hit) {
        out.push(then.get(r));
        done = true;
        break;
      }
    }
    if (!done) {
      if (e.has_else) out.push(otherwise.get(r));
      else out.push_null();
    }
  }
  return out;
}

}  // namespace

const Vector& eval_ref(const Expr& e, const Chunk& in, const EvalContext& ctx, Vector& tmp) {
  if (e.kind == ExprKind::column) return in.columns[static_cast<size_t>(e.column)];
  tmp = eval(e, in, ctx);
  return tmp;
}

void check_stack() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  static constexpr uintptr_t kMargin = 2u << 20;  // sanitizers' frames are several times larger
#else
  static constexpr uintptr_t kMargin = 512u << 10;
#endif
  thread_local uintptr_t limit = [] {
    uintptr_t low = 0;
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      void* addr = nullptr;
      size_t size = 0;
      if (pthread_attr_getstack(&attr, &addr, &size) == 0)
        low = reinterpret_cast<uintptr_t>(addr) + std::min<uintptr_t>(kMargin, size / 4);
      pthread_attr_destroy(&attr);
    }
    return low;
  }();
  if (reinterpret_cast<uintptr_t>(__builtin_frame_address(0)) < limit)
    throw QueryError("stack depth limit exceeded: the query nests too deeply for this thread's stack");
}

Vector eval(const Expr& e, const Chunk& in, const EvalContext& ctx) {
  check_stack();
  switch (e.kind) {
    case ExprKind::constant: return Vector::make_constant(e.value, in.rows);
    case ExprKind::column: return in.columns[static_cast<size_t>(e.column)];
    case ExprKind::and_:
    case ExprKind::or_:
    case ExprKind::not_: return eval_bool_logic(e, in, ctx);
    case ExprKind::is_null: {
      Vector a = eval(*e.args[0], in, ctx);
      Vector out;
      out.clear(Type::boolean);
      size_t n = a.constant ? (in.rows ? 1 : 0) : in.rows;
      out.i.resize(n);
      for (size_t r = 0; r < n; ++r) out.i[r] = a.is_null(r) != e.negate;
      out.constant = a.constant;
      out.size = in.rows;
      return out;
    }
    case ExprKind::in_list: return eval_in(e, in, ctx);
    case ExprKind::like: {
      Vector s = eval(*e.args[0], in, ctx), p = eval(*e.args[1], in, ctx);
      Vector out;
      binary<std::string, std::string, int64_t>(s, p, in.rows, out, Type::boolean,
                                                [&](const std::string& x, const std::string& pat) -> int64_t {
                                                  return like_match(x, pat, e.ci) != e.negate;
                                                });
      return out;
    }
    case ExprKind::case_: return eval_case(e, in, ctx);
    case ExprKind::cast:
    case ExprKind::call: {
      Args args(e.args.size());
      for (auto& a : e.args) {
        if (a->kind == ExprKind::column) args.borrow(in.columns[static_cast<size_t>(a->column)]);
        else args.own(eval(*a, in, ctx));
      }
      Vector out;
      e.kernel(e, args, in.rows, out, ctx);
      return out;
    }
    case ExprKind::aggregate: break;
    case ExprKind::window: throw QueryError("window functions are not allowed here", e.location);
  }
  throw QueryError("aggregate functions are not allowed here", -1);
}

// ---- construction ---------------------------------------------------------------------------
ExprPtr make_constant(Value v, int location) {
  auto e = std::make_unique<Expr>();
  e->kind = ExprKind::constant;
  e->type = v.type;
  e->value = std::move(v);
  e->location = location;
  return e;
}

ExprPtr make_column(int index, Type type, std::string name, int location) {
  auto e = std::make_unique<Expr>();
  e->kind = ExprKind::column;
  e->type = type;
  e->column = index;
  e->name = std::move(name);
  e->location = location;
  return e;
}

ExprPtr cast_operand(ExprPtr e, Type to) {
  const int location = e->location;
  return make_cast(std::move(e), to, location);
}

ExprPtr make_cast(ExprPtr e, Type to, int location) {
  if (e->type == to) return e;
  if (e->kind == ExprKind::constant) {
    Value v = cast_value(e->value, to, e->location >= 0 ? e->location : location);
    auto c = make_constant(std::move(v), e->location);
    return c;
  }
  // Only the casts cast_value knows are allowed; check with a NULL-free probe of the type pair.
  bool ok = to == Type::text || e->type == Type::text || e->type == Type::json || e->type == Type::null ||
            (to == Type::json) || (is_numeric(e->type) && is_numeric(to)) ||
            (e->type == Type::boolean && to == Type::int64) || (e->type == Type::int64 && to == Type::boolean);
  if (!ok) fail("cannot cast type " + pg_type(e->type) + " to " + pg_type(to), location);
  auto c = std::make_unique<Expr>();
  c->kind = ExprKind::cast;
  c->type = to;
  c->kernel = k_cast;
  c->location = location >= 0 ? location : e->location;
  c->args.push_back(std::move(e));
  return c;
}

namespace {

// An untyped literal or NULL takes the other side's type.
void unify_literal(ExprPtr& a, const ExprPtr& b) {
  if ((a->untyped || a->type == Type::null) && b->type != Type::null && !(b->untyped)) {
    a = cast_operand(std::move(a), b->type);
    a->untyped = false;
  }
}

ExprPtr call(std::string_view name, Type type, Kernel k, std::vector<ExprPtr> args, int location) {
  auto e = std::make_unique<Expr>();
  e->kind = ExprKind::call;
  e->type = type;
  e->name = std::string(name);
  e->kernel = k;
  e->args = std::move(args);
  e->location = location;
  return e;
}

std::vector<ExprPtr> two(ExprPtr a, ExprPtr b) {
  std::vector<ExprPtr> v;
  v.push_back(std::move(a));
  v.push_back(std::move(b));
  return v;
}

}  // namespace

ExprPtr make_operator(std::string_view op, ExprPtr l, ExprPtr r, int location) {
  unify_literal(l, r);
  unify_literal(r, l);
  if (l->untyped && r->untyped) {
    l->untyped = r->untyped = false;
  }
  if (l->type == Type::null && r->type == Type::null) {
    l = make_cast(std::move(l), Type::text);
    r = make_cast(std::move(r), Type::text);
  }
  Type a = l->type, b = r->type;
  auto no_op = [&]() -> ExprPtr {
    fail("operator does not exist: " + pg_type(a) + " " + std::string(op) + " " + pg_type(b), location);
  };
  bool cmp = op == "=" || op == "<>" || op == "!=" || op == "<" || op == "<=" || op == ">" || op == ">=";
  if (cmp) {
    std::string o = op == "!=" ? "<>" : std::string(op);
    Kernel k = nullptr;
    if (is_numeric(a) && is_numeric(b)) {
      if (a != b) {
        l = make_cast(std::move(l), Type::float64);
        r = make_cast(std::move(r), Type::float64);
        k = k_cmp_f;
      } else {
        k = a == Type::int64 ? k_cmp_i : k_cmp_f;
      }
    } else if (a == b && (a == Type::timestamp || a == Type::interval || a == Type::boolean)) k = k_cmp_i;
    else if (a == b && a == Type::text) k = k_cmp_s;
    else return no_op();
    return call(o, Type::boolean, k, two(std::move(l), std::move(r)), location);
  }
  if (op == "||") {
    if (a != Type::text) l = make_cast(std::move(l), Type::text);
    if (b != Type::text) r = make_cast(std::move(r), Type::text);
    return call(op, Type::text, k_concat, two(std::move(l), std::move(r)), location);
  }
  if (is_numeric(a) && is_numeric(b)) {
    bool ints = a == Type::int64 && b == Type::int64;
    if (!ints) {
      l = make_cast(std::move(l), Type::float64);
      r = make_cast(std::move(r), Type::float64);
    }
    Type t = ints ? Type::int64 : Type::float64;
    Kernel k = nullptr;
    if (op == "+") k = ints ? k_add_ii : k_add_ff;
    else if (op == "-") k = ints ? k_sub_ii : k_sub_ff;
    else if (op == "*") k = ints ? k_mul_ii : k_mul_ff;
    else if (op == "/") k = ints ? k_div_ii : k_div_ff;
    else if (op == "%") k = ints ? k_mod_ii : k_mod_ff;
    else if (op == "^") return call("power", Type::float64, k_power, two(make_cast(std::move(l), Type::float64), make_cast(std::move(r), Type::float64)), location);
    else return no_op();
    return call(op, t, k, two(std::move(l), std::move(r)), location);
  }
  // Time arithmetic: the values are ns, so it is integer arithmetic with other result types.
  if (a == Type::timestamp && b == Type::interval && (op == "+" || op == "-"))
    return call(op, Type::timestamp, op == "+" ? k_add_ii : k_sub_ii, two(std::move(l), std::move(r)), location);
  if (a == Type::interval && b == Type::timestamp && op == "+")
    return call(op, Type::timestamp, k_add_ii, two(std::move(l), std::move(r)), location);
  if (a == Type::timestamp && b == Type::timestamp && op == "-")
    return call(op, Type::interval, k_sub_ii, two(std::move(l), std::move(r)), location);
  if (a == Type::interval && b == Type::interval && (op == "+" || op == "-"))
    return call(op, Type::interval, op == "+" ? k_add_ii : k_sub_ii, two(std::move(l), std::move(r)), location);
  if (a == Type::interval && is_numeric(b) && (op == "*" || op == "/"))
    return call(op, Type::interval, op == "*" ? k_mul_if : k_div_if, two(std::move(l), make_cast(std::move(r), Type::float64)), location);
  if (is_numeric(a) && b == Type::interval && op == "*")
    return call(op, Type::interval, k_mul_if, two(std::move(r), make_cast(std::move(l), Type::float64)), location);
  return no_op();
}

ExprPtr make_unary(std::string_view op, ExprPtr e, int location) {
  if (e->untyped) e = make_cast(std::move(e), Type::float64);
  Type t = e->type;
  std::vector<ExprPtr> args;
  if (op == "+" && (is_numeric(t) || t == Type::interval)) return e;
  if (op == "-") {
    args.push_back(std::move(e));
    if (t == Type::int64 || t == Type::interval) return call(op, t, k_neg_i, std::move(args), location);
    if (t == Type::float64) return call(op, t, k_neg_f, std::move(args), location);
  }
  fail("operator does not exist: " + std::string(op) + " " + pg_type(t), location);
}

bool is_aggregate_name(std::string_view n) {
  static const char* names[] = {"count", "sum", "avg", "min", "max", "first", "last", "stddev", "stddev_samp",
                                "stddev_pop", "variance", "var_samp", "var_pop", "percentile_cont", "percentile_disc",
                                "bool_and", "bool_or", "every", "mean"};
  for (auto* x : names)
    if (n == x) return true;
  return false;
}

ExprPtr make_function(std::string_view name, std::vector<ExprPtr> args, int location) {
  std::string sig;
  for (size_t k = 0; k < args.size(); ++k) sig += (k ? ", " : "") + (args[k]->untyped ? std::string("unknown") : pg_type(args[k]->type));
  auto no_fn = [&]() -> ExprPtr {
    fail("function " + std::string(name) + "(" + sig + ") does not exist", location);
  };
  auto want = [&](size_t k, Type t) {
    if (args[k]->type == t) return;
    if (args[k]->untyped || args[k]->type == Type::null || (is_numeric(args[k]->type) && is_numeric(t)))
      args[k] = cast_operand(std::move(args[k]), t);
    else
      no_fn();
  };
  size_t n = args.size();
  if (name == "now" || name == "current_timestamp" || name == "transaction_timestamp" || name == "statement_timestamp" ||
      name == "localtimestamp") {
    if (n) no_fn();
    return call("now", Type::timestamp, k_now, std::move(args), location);
  }
  if (name == "time_bucket" || name == "time_bucket_gapfill") {
    if (n < 2 || n > 4) no_fn();
    want(0, Type::interval);
    want(1, Type::timestamp);
    if (name == "time_bucket_gapfill") {
      for (size_t k = 2; k < n; ++k) want(k, Type::timestamp);
      return call(name, Type::timestamp, k_gapfill_bucket, std::move(args), location);  // start/finish: the planner's
    }
    if (n > 2) want(2, Type::timestamp);
    if (n > 3) no_fn();
    return call(name, Type::timestamp, k_time_bucket, std::move(args), location);
  }
  if (name == "date_trunc") {
    if (n < 2 || n > 3) no_fn();
    want(0, Type::text);
    want(1, Type::timestamp);
    if (n == 3) want(2, Type::text);
    return call(name, Type::timestamp, k_date_trunc, std::move(args), location);
  }
  if (name == "date_part" || name == "extract") {
    if (n != 2) no_fn();
    want(0, Type::text);
    want(1, Type::timestamp);
    return call(name, Type::float64, k_date_part, std::move(args), location);
  }
  if (name == "to_timestamp") {
    if (n != 1) no_fn();
    want(0, Type::float64);
    return call(name, Type::timestamp, k_to_timestamp, std::move(args), location);
  }
  if (name == "abs") {
    if (n != 1) no_fn();
    if (args[0]->type == Type::int64) return call(name, Type::int64, k_abs_i, std::move(args), location);
    want(0, Type::float64);
    return call(name, Type::float64, k_math<d_abs>, std::move(args), location);
  }
  struct Math { const char* n; Kernel k; };
  static const Math math[] = {{"floor", k_math<d_floor>}, {"ceil", k_math<d_ceil>}, {"ceiling", k_math<d_ceil>},
                              {"trunc", k_math<d_trunc>}, {"exp", k_math<d_exp>}, {"sign", k_math<d_sign>},
                              {"sqrt", k_sqrt}, {"ln", k_ln}, {"log", k_ln}, {"log10", k_ln}};
  for (auto& m : math)
    if (name == m.n) {
      if (n != 1) no_fn();
      want(0, Type::float64);
      return call(name, Type::float64, m.k, std::move(args), location);
    }
  if (name == "round") {
    if (n == 1) {
      want(0, Type::float64);
      return call(name, Type::float64, k_math<d_round>, std::move(args), location);
    }
    if (n != 2) no_fn();
    want(0, Type::float64);
    want(1, Type::int64);
    return call(name, Type::float64, k_round2, std::move(args), location);
  }
  if (name == "power" || name == "pow") {
    if (n != 2) no_fn();
    want(0, Type::float64);
    want(1, Type::float64);
    return call("power", Type::float64, k_power, std::move(args), location);
  }
  if (name == "mod") {
    if (n != 2) no_fn();
    return make_operator("%", std::move(args[0]), std::move(args[1]), location);
  }
  if (name == "lower" || name == "upper") {
    if (n != 1) no_fn();
    want(0, Type::text);
    return call(name, Type::text, k_lower, std::move(args), location);
  }
  if (name == "length" || name == "char_length" || name == "character_length") {
    if (n != 1) no_fn();
    want(0, Type::text);
    return call(name, Type::int64, k_length, std::move(args), location);
  }
  if (name == "substr" || name == "substring") {
    if (n < 2 || n > 3) no_fn();
    want(0, Type::text);
    for (size_t k = 1; k < n; ++k) want(k, Type::int64);
    return call(name, Type::text, k_substr, std::move(args), location);
  }
  if (name == "replace") {
    if (n != 3) no_fn();
    for (size_t k = 0; k < 3; ++k) want(k, Type::text);
    return call(name, Type::text, k_replace, std::move(args), location);
  }
  if (name == "concat") {
    for (auto& a : args) a = make_cast(std::move(a), Type::text);
    return call(name, Type::text, k_concat_fn, std::move(args), location);
  }
  if (name == "coalesce" || name == "greatest" || name == "least" || name == "nullif") {
    if (n == 0 || (name == "nullif" && n != 2)) no_fn();
    // The common type: the first typed argument; numeric mixes go to double.
    Type t = Type::null;
    for (auto& a : args)
      if (a->type != Type::null && !a->untyped) {
        if (t == Type::null) t = a->type;
        else if (t != a->type) {
          if (is_numeric(t) && is_numeric(a->type)) t = Type::float64;
          else fail(std::string(name == "nullif" ? "operator does not exist: " + pg_type(t) + " = " + pg_type(a->type)
                                                 : std::string(name) + " types " + pg_type(t) + " and " + pg_type(a->type) + " cannot be matched"),
                    a->location);
        }
      }
    if (t == Type::null) t = Type::text;
    for (auto& a : args) a = make_cast(std::move(a), t);
    Kernel k = name == "coalesce" ? k_coalesce : name == "nullif" ? k_nullif : k_greatest;
    return call(name, t, k, std::move(args), location);
  }
  if (name == "locf" || name == "interpolate") {
    if (n != 1) no_fn();
    return args[0]->clone();  // the gap-filling operator fills; here the value is itself
  }
  return no_fn();
}

}  // namespace mqbase::query
