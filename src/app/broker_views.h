// BrokerViews: the broker as read-only SQL tables (docs/sql.md#views-of-the-broker):
// mqtt_sessions, mqtt_clients, mqtt_subscriptions and mqtt_retained. Each query that names
// one gets a snapshot taken when it starts (Broker::sessions_snapshot, retained_snapshot).
// Thread-safety: snapshot() from any thread.
#pragma once
#include "broker/broker.h"
#include "query/engine.h"

namespace mqbase::app {

class BrokerViews : public query::SystemViews {
 public:
  explicit BrokerViews(broker::Broker& broker) : broker_(broker) {}
  bool snapshot(std::string_view name, std::vector<query::ColumnInfo>& columns, query::Chunk& rows) override;
  std::vector<std::string> names() const override;

 private:
  broker::Broker& broker_;
};

}  // namespace mqbase::app
