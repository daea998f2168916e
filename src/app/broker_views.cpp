#include "app/broker_views.h"

#include <chrono>

namespace mqbase::app {
namespace {

using query::ColumnInfo;
using query::Type;
using query::Value;

std::string protocol_name(uint8_t p) {
  switch (p) {
    case 3: return "3.1";
    case 4: return "3.1.1";
    case 5: return "5.0";
  }
  return std::to_string(p);
}

// Columns and a row-appender over them.
struct Builder {
  std::vector<ColumnInfo>& columns;
  query::Chunk& rows;
  void define(std::vector<ColumnInfo> cols) {
    columns = std::move(cols);
    rows = query::Chunk{};
    for (auto& c : columns) {
      query::Vector v;
      v.clear(c.type);
      rows.columns.push_back(std::move(v));
    }
  }
  void add(const std::vector<Value>& row) {
    for (size_t k = 0; k < row.size(); ++k) rows.columns[k].push(row[k]);
    ++rows.rows;
  }
};

Value expiry_value(uint32_t seconds) { return Value::of_int(seconds); }

}  // namespace

std::vector<std::string> BrokerViews::names() const {
  return {"mqtt_clients", "mqtt_retained", "mqtt_sessions", "mqtt_subscriptions"};
}

bool BrokerViews::snapshot(std::string_view name, std::vector<ColumnInfo>& columns, query::Chunk& rows) {
  Builder b{columns, rows};
  if (name == "mqtt_sessions") {
    b.define({{"client_id", Type::text}, {"connected", Type::boolean}, {"protocol", Type::text},
              {"expiry_interval", Type::int64}, {"subscriptions", Type::int64}, {"queued", Type::int64},
              {"inflight", Type::int64}, {"disconnected_at", Type::timestamp}});
    for (auto& s : broker_.sessions_snapshot())
      b.add({Value::of_text(s.client_id), Value::of_bool(s.connected), Value::of_text(protocol_name(s.protocol)),
             expiry_value(s.expiry_interval), Value::of_int(static_cast<int64_t>(s.subscriptions.size())),
             Value::of_int(static_cast<int64_t>(s.queued)), Value::of_int(static_cast<int64_t>(s.inflight)),
             s.connected || !s.disconnected_wall_ms ? Value::make_null(Type::timestamp)
                                                    : Value::of_time(s.disconnected_wall_ms * 1'000'000)});
    return true;
  }
  if (name == "mqtt_clients") {
    b.define({{"client_id", Type::text}, {"address", Type::text}, {"protocol", Type::text},
              {"expiry_interval", Type::int64}, {"subscriptions", Type::int64}, {"queued", Type::int64},
              {"inflight", Type::int64}, {"username", Type::text}});
    for (auto& s : broker_.sessions_snapshot()) {
      if (!s.connected) continue;
      b.add({Value::of_text(s.client_id), s.address.empty() ? Value::make_null(Type::text) : Value::of_text(s.address),
             Value::of_text(protocol_name(s.protocol)), expiry_value(s.expiry_interval),
             Value::of_int(static_cast<int64_t>(s.subscriptions.size())), Value::of_int(static_cast<int64_t>(s.queued)),
             Value::of_int(static_cast<int64_t>(s.inflight)),
             s.username ? Value::of_text(*s.username) : Value::make_null(Type::text)});
    }
    return true;
  }
  if (name == "mqtt_subscriptions") {
    b.define({{"client_id", Type::text}, {"filter", Type::text}, {"share_group", Type::text}, {"qos", Type::int64},
              {"no_local", Type::boolean}, {"retain_as_published", Type::boolean}, {"retain_handling", Type::int64},
              {"identifier", Type::int64}});
    for (auto& s : broker_.sessions_snapshot())
      for (auto& [filter, o] : s.subscriptions) {
        Value group = Value::make_null(Type::text);
        std::string f = filter;
        if (filter.rfind("$share/", 0) == 0) {
          auto slash = filter.find('/', 7);
          if (slash != std::string::npos) {
            group = Value::of_text(filter.substr(7, slash - 7));
            f = filter.substr(slash + 1);
          }
        }
        b.add({Value::of_text(s.client_id), Value::of_text(f), group, Value::of_int(o.qos), Value::of_bool(o.no_local),
               Value::of_bool(o.retain_as_published), Value::of_int(o.retain_handling),
               o.identifier ? Value::of_int(o.identifier) : Value::make_null(Type::int64)});
      }
    return true;
  }
  if (name == "mqtt_retained") {
    b.define({{"topic", Type::text}, {"payload", Type::text}, {"qos", Type::int64}, {"bytes", Type::int64},
              {"content_type", Type::text}, {"expires_at", Type::timestamp}});
    auto now_steady = std::chrono::steady_clock::now();
    auto now_wall = std::chrono::system_clock::now();
    for (auto& m : broker_.retained_snapshot()) {
      Value expires = Value::make_null(Type::timestamp);
      if (m->expires_at) {
        auto wall = now_wall + std::chrono::duration_cast<std::chrono::system_clock::duration>(*m->expires_at - now_steady);
        expires = Value::of_time(std::chrono::duration_cast<std::chrono::nanoseconds>(wall.time_since_epoch()).count());
      }
      b.add({Value::of_text(m->topic), Value::of_text(m->payload), Value::of_int(m->qos),
             Value::of_int(static_cast<int64_t>(m->payload.size())),
             m->content_type ? Value::of_text(*m->content_type) : Value::make_null(Type::text), expires});
    }
    return true;
  }
  return false;
}

}  // namespace mqbase::app
