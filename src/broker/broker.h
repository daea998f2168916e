// Broker: the state every connection shares — the sessions by client id, the subscription
// index, the retained messages and the counters — and the routing of a PUBLISH to its
// subscribers. One Broker per server; net creates a Client per connection that calls into it.
// Thread-safety: every public method is safe from any thread.
#pragma once
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "broker/client_link.h"
#include "broker/limits.h"
#include "broker/message.h"
#include "broker/retained_store.h"
#include "broker/session.h"
#include "broker/stats.h"
#include "broker/subscription_index.h"
#include "mqtt/packet.h"

namespace mqbase::broker {

struct ConnectOutcome {
  mqtt::ReasonCode reason = mqtt::ReasonCode::success;
  std::shared_ptr<Session> session;  // set on success
  uint64_t generation = 0;
  std::string assigned_client_id;  // set when the server chose the id
};

class Broker {
 public:
  explicit Broker(Limits limits);
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  const Limits& limits() const { return limits_; }
  Stats& stats() { return stats_; }
  SubscriptionIndex& subscriptions() { return index_; }
  RetainedStore& retained() { return retained_; }
  std::chrono::steady_clock::time_point started() const { return started_; }

  // Admits a CONNECT: checks the client id, takes over any connection of the same id
  // ([MQTT-3.1.4-2]: the old one is closed), resumes or replaces the session as Clean
  // Session asks, and attaches `link`, sending the CONNACK first. On refusal returns the
  // reason and sends nothing (the caller sends the refusing CONNACK).
  ConnectOutcome connect(const mqtt::Connect& c, const std::shared_ptr<ClientLink>& link);

  // The connection of `session` at `generation` has ended. A clean session is discarded
  // (with its subscriptions); a persistent one stays to collect messages.
  void disconnect(const std::shared_ptr<Session>& session, uint64_t generation);

  // Routes `msg` to every matching subscriber, storing it first when retained.
  void publish(const MessagePtr& msg);

  size_t session_count() const;

 private:
  void discard_locked(const std::shared_ptr<Session>& session);
  std::string assign_client_id();

  const Limits limits_;
  Stats stats_;
  SubscriptionIndex index_;
  RetainedStore retained_;
  const std::chrono::steady_clock::time_point started_;

  mutable std::mutex sessions_mutex_;
  std::unordered_map<std::string, std::shared_ptr<Session>> sessions_;
  uint64_t next_assigned_id_ = 0;
};

}  // namespace mqbase::broker
