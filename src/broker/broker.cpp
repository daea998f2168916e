#include "broker/broker.h"

#include <random>

#include <fmt/format.h>

#include "mqtt/encoder.h"

namespace mqbase::broker {

Broker::Broker(Limits limits) : limits_(limits), started_(std::chrono::steady_clock::now()) {}

std::string Broker::assign_client_id() {
  static const uint64_t boot = std::random_device{}();
  return fmt::format("mqbase-{:08x}-{}", static_cast<uint32_t>(boot), ++next_assigned_id_);
}

void Broker::discard_locked(const std::shared_ptr<Session>& session) {
  for (const auto& [filter, opts] : session->take_subscriptions()) index_.remove(session.get(), filter);
  sessions_.erase(session->client_id());
  Stats::sub(stats_.clients_total);
}

ConnectOutcome Broker::connect(const mqtt::Connect& c, const std::shared_ptr<ClientLink>& link) {
  ConnectOutcome out;
  std::string client_id(c.client_id);
  if (client_id.empty()) {
    // 3.1 requires an id; 3.1.1 lets the server assign one, but only to a clean session
    // ([MQTT-3.1.3-7/8]).
    if (c.version == mqtt::Version::v31 || !c.clean_start) {
      out.reason = mqtt::ReasonCode::client_identifier_not_valid;
      return out;
    }
  } else if (c.version == mqtt::Version::v31 && client_id.size() > 23) {
    out.reason = mqtt::ReasonCode::client_identifier_not_valid;  // MQTT 3.1: 1 to 23 characters
    return out;
  }

  std::lock_guard lock(sessions_mutex_);
  if (client_id.empty()) {
    do {
      client_id = assign_client_id();
    } while (sessions_.count(client_id));
    out.assigned_client_id = client_id;
  }
  std::shared_ptr<Session> session;
  bool session_present = false;
  if (auto it = sessions_.find(client_id); it != sessions_.end()) {
    session = it->second;
    if (auto old = session->release_link()) old->close();  // takeover
    if (c.clean_start || session->clean()) {
      discard_locked(session);
      session.reset();
    } else {
      session_present = true;
    }
  }
  if (!session) {
    session = std::make_shared<Session>(client_id, c.clean_start, limits_, stats_);
    sessions_.emplace(client_id, session);
    Stats::add(stats_.clients_total);
  }
  std::string connack;
  mqtt::encode(mqtt::Connack{session_present, 0, {}}, c.version, connack);
  out.generation = session->attach(link, c.version, c.clean_start, connack);
  out.session = std::move(session);
  return out;
}

void Broker::disconnect(const std::shared_ptr<Session>& session, uint64_t generation) {
  std::lock_guard lock(sessions_mutex_);
  if (!session->detach(generation)) return;  // taken over: the new connection owns it
  if (session->clean()) discard_locked(session);
}

void Broker::publish(const MessagePtr& msg) {
  if (msg->retain) retained_.set(msg);
  thread_local std::vector<MatchedSubscriber> matches;
  index_.match(msg->topic, matches);
  for (auto& m : matches) m.session->deliver(msg, std::min(m.qos, msg->qos), false);
  matches.clear();  // drop the session references now, not at the next publish
}

size_t Broker::session_count() const {
  std::lock_guard lock(sessions_mutex_);
  return sessions_.size();
}

}  // namespace mqbase::broker
