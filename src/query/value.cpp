#include "query/value.h"

namespace mqbase::query {

std::string_view type_name(Type t) {
  switch (t) {
    case Type::boolean: return "boolean";
    case Type::int64: return "bigint";
    case Type::float64: return "double precision";
    case Type::text: return "text";
    case Type::timestamp: return "timestamptz";
    case Type::interval: return "interval";
    case Type::json: return "json";
    case Type::null: break;
  }
  return "unknown";
}

std::string_view neo_type_name(Type t) {
  switch (t) {
    case Type::boolean: return "boolean";
    case Type::int64: return "int64";
    case Type::float64: return "double";
    case Type::text: return "string";
    case Type::timestamp: return "datetime";
    case Type::interval: return "interval";
    case Type::json: return "json";
    case Type::null: break;
  }
  return "unknown";
}

namespace {

// A few buffers of up to a few chunks' values: what one operator's kernels use per chunk.
constexpr size_t kSpares = 8, kSpareValues = 4 * kChunkRows, kSmallest = 64;

template <class T>
std::vector<std::vector<T>>& spares() {
  thread_local std::vector<std::vector<T>> pool;
  return pool;
}

template <class T>
void keep_spare(std::vector<T>& v) {
  auto& pool = spares<T>();
  if (v.capacity() < kSmallest || v.capacity() > kSpareValues || pool.size() >= kSpares) return;
  pool.push_back(std::move(v));
  v = std::vector<T>();
}

template <class T>
void take_spare(std::vector<T>& out, size_t n) {
  auto& pool = spares<T>();
  if (out.capacity() == 0 && !pool.empty()) {
    out.swap(pool.back());
    pool.pop_back();
  }
  out.resize(n);  // within the spare's old size: no fill
}

}  // namespace

void recycle(Vector& v) {
  keep_spare(v.i);
  keep_spare(v.f);
}

void sized_for_writing(std::vector<int64_t>& out, size_t n) { take_spare(out, n); }
void sized_for_writing(std::vector<double>& out, size_t n) { take_spare(out, n); }

Value Vector::get(size_t row) const {
  if (is_null(row)) return Value::make_null(type);
  size_t k = at(row);
  Value v;
  v.type = type;
  v.null = false;
  if (uses_ints(type)) v.i = i[k];
  else if (type == Type::float64) v.f = f[k];
  else if (uses_strings(type)) v.s = s[k];
  return v;
}

void Vector::push_null() {
  if (valid.empty()) valid.assign(size, 1);
  valid.push_back(0);
  if (uses_ints(type)) i.push_back(0);
  else if (type == Type::float64) f.push_back(0);
  else if (uses_strings(type)) s.emplace_back();
  ++size;
}

void Vector::push(const Value& v) {
  if (v.null || type == Type::null) {
    push_null();
    return;
  }
  if (!valid.empty()) valid.push_back(1);
  if (uses_ints(type)) i.push_back(v.i);
  else if (type == Type::float64) f.push_back(v.f);
  else if (uses_strings(type)) s.push_back(v.s);
  ++size;
}

void Vector::clear(Type t) {
  type = t;
  constant = false;
  size = 0;
  valid.clear();
  i.clear();
  f.clear();
  s.clear();
}

void Vector::reserve(size_t n) {
  if (uses_ints(type)) i.reserve(n);
  else if (type == Type::float64) f.reserve(n);
  else if (uses_strings(type)) s.reserve(n);
}

void Vector::expand() {
  if (!constant) return;
  constant = false;
  if (!valid.empty()) valid.assign(size, valid[0]);
  if (uses_ints(type)) i.assign(size, i.empty() ? 0 : i[0]);
  else if (type == Type::float64) f.assign(size, f.empty() ? 0 : f[0]);
  else if (uses_strings(type)) s.assign(size, s.empty() ? std::string() : s[0]);
}

Vector Vector::make_constant(const Value& v, size_t rows) {
  Vector out;
  out.clear(v.type);
  out.push(v);
  out.constant = true;
  out.size = rows;
  return out;
}

}  // namespace mqbase::query
