#include "broker/broker.h"

#include <random>

#include <fmt/format.h>

#include "mqtt/encoder.h"

namespace mqbase::broker {

Broker::Broker(Limits limits, ShareStrategy share_strategy)
    : limits_(limits),
      index_(share_strategy),
      retained_(limits.max_retained_messages, limits.max_retained_bytes),
      started_(std::chrono::steady_clock::now()) {}

void Broker::add_authenticator(std::shared_ptr<auth::EnhancedAuthenticator> a) {
  std::string method(a->method());
  authenticators_[method] = std::move(a);
}

std::shared_ptr<auth::EnhancedAuthenticator> Broker::authenticator(std::string_view method) const {
  auto it = authenticators_.find(method);
  return it == authenticators_.end() ? nullptr : it->second;
}

std::string Broker::assign_client_id() {
  static const uint64_t boot = std::random_device{}();
  return fmt::format("mqbase-{:08x}-{}", static_cast<uint32_t>(boot), ++next_assigned_id_);
}

void Broker::discard_locked(const std::shared_ptr<Session>& session) {
  for (const auto& [filter, opts] : session->take_subscriptions()) {
    index_.remove(session.get(), filter);
  }
  // By iterator: erasing the entry may destroy the Session, whose id the key views.
  if (auto it = sessions_.find(session->client_id()); it != sessions_.end()) sessions_.erase(it);
  Stats::sub(stats_.clients_total);
}

ConnectOutcome Broker::connect(const ConnectRequest& req, const std::shared_ptr<ClientLink>& link,
                               const ConnackBuilder& connack) {
  ConnectOutcome out;
  std::string client_id = req.client_id;
  if (client_id.empty()) {
    // 3.1 requires an id; 3.1.1 lets the server assign one, but only to a clean session
    // ([MQTT-3.1.3-7/8]); 5.0 always may ([MQTT-3.1.3-6]).
    if (req.version == mqtt::Version::v31 || (req.version == mqtt::Version::v311 && !req.clean_start)) {
      out.reason = mqtt::ReasonCode::client_identifier_not_valid;
      return out;
    }
  } else if (req.version == mqtt::Version::v31 && client_id.size() > 23) {
    out.reason = mqtt::ReasonCode::client_identifier_not_valid;  // MQTT 3.1: 1 to 23 characters
    return out;
  }

  std::shared_ptr<Session> displaced;  // a session replaced by a clean start, for redistribution
  std::shared_ptr<ClientLink> taken_over;
  {
    std::lock_guard lock(sessions_mutex_);
    if (client_id.empty()) {
      do {
        client_id = assign_client_id();
      } while (sessions_.count(client_id));
      out.assigned_client_id = client_id;
    }
    pending_wills_.erase(client_id);  // reconnected within the Will Delay Interval
    std::shared_ptr<Session> session;
    bool session_present = false;
    if (auto it = sessions_.find(client_id); it != sessions_.end()) {
      session = it->second;
      taken_over = session->release_link();
      if (taken_over) taken_over->disconnect(mqtt::ReasonCode::session_taken_over);
      if (req.clean_start || session->clean()) {
        discard_locked(session);
        displaced = std::move(session);
      } else {
        session_present = true;
      }
    }
    if (!session) {
      session = std::make_shared<Session>(std::move(client_id), req.session_expiry, limits_, stats_);
      sessions_.emplace(session->client_id(), session);  // the key views the session's own id
      Stats::add(stats_.clients_total);
    }
    out.generation = session->attach(link, req.peer, req.session_expiry, connack(session_present, out.assigned_client_id));
    out.session = std::move(session);
  }
  if (taken_over) index_.synchronize();  // publishes that may still send to the old link are done
  if (displaced) redistribute(displaced);
  return out;
}

ConnectOutcome Broker::connect(const mqtt::Connect& c, const std::shared_ptr<ClientLink>& link) {
  ConnectRequest req;
  req.version = c.version;
  req.client_id = std::string(c.client_id);
  req.clean_start = c.clean_start;
  req.session_expiry = c.clean_start ? 0 : kSessionNeverExpires;
  req.peer.version = c.version;
  return connect(req, link, [&](bool present, const std::string&) {
    std::string out;
    mqtt::encode(mqtt::Connack{present && c.version != mqtt::Version::v31, 0, {}}, c.version, out);
    return out;
  });
}

void Broker::redistribute(const std::shared_ptr<Session>& from) {
  for (auto& u : from->take_shared_messages()) {
    MatchedSubscriber other;
    std::shared_ptr<Session> owner;
    if (!index_.pick_other_member(*u.delivery.share, from.get(), other, owner)) continue;
    Delivery d = u.delivery;
    d.qos = std::min(other.qos, u.msg->qos);
    d.identifiers = std::move(other.identifiers);
    other.session->deliver(u.msg, d);
  }
}

void Broker::disconnect(const std::shared_ptr<Session>& session, uint64_t generation) {
  std::shared_ptr<ClientLink> link;
  {
    std::lock_guard lock(sessions_mutex_);
    if (!session->detach(generation, Clock::now(), &link)) return;  // taken over: the new connection owns it
    if (session->clean()) discard_locked(session);
  }
  // Publishes that read the link without the session's lock (Session::deliver_qos0) run under
  // the index's read lock: once they are over, the link may go.
  index_.synchronize();
  link.reset();
  redistribute(session);
}

size_t Broker::publish(const MessagePtr& msg, bool* retain_refused) {
  if (msg->retain && !retained_.set(msg) && retain_refused) *retain_refused = true;
  // Deliveries happen under the index's read lock: it keeps the matched sessions alive without
  // a reference count per delivery (a count every loop would write to).
  auto lock = index_.read_lock();
  const auto& matches = index_.match_cached_locked(msg->topic, static_cast<const Session*>(msg->origin));
  size_t n = matches.size();
  // QoS 0 to 3.x subscribers is the same bytes for all of them (per RETAIN flag): encode once.
  thread_local std::string encoded[2];
  bool have[2] = {false, false};
  for (const auto& m : matches) {
    // [MQTT-3.3.1-9]: forwarded messages carry RETAIN 0 unless Retain As Published.
    Delivery d{std::min(m.qos, msg->qos), m.retain_as_published && msg->retain, m.identifiers, m.share, {}};
    if (d.qos == 0) {
      int r = d.retain ? 1 : 0;
      if (!have[r]) {
        encoded[r].clear();
        mqtt::encode_publish(encoded[r], mqtt::Version::v311, msg->topic, msg->payload, 0, d.retain, false, 0);
        have[r] = true;
      }
      d.encoded_v3 = encoded[r];
    }
    if (d.qos > 0 || !m.session->deliver_qos0(*msg, d)) m.session->deliver(msg, d);
  }
  return n;
}

void Broker::schedule_will(const std::string& client_id, MessagePtr will, Clock::time_point when) {
  std::lock_guard lock(sessions_mutex_);
  pending_wills_[client_id] = PendingWill{std::move(will), when};
}

size_t Broker::tick(Clock::time_point now) {
  std::vector<MessagePtr> due;
  std::vector<std::shared_ptr<Session>> ended;
  {
    std::lock_guard lock(sessions_mutex_);
    for (auto& [id, s] : sessions_) {
      if (!s->expired(now)) continue;
      ended.push_back(s);
      // [MQTT-3.1.2-8]: a will still waiting goes out when its session ends.
      if (auto w = pending_wills_.find(s->client_id()); w != pending_wills_.end()) {
        due.push_back(std::move(w->second.msg));
        pending_wills_.erase(w);
      }
    }
    for (auto& s : ended) discard_locked(s);
    for (auto it = pending_wills_.begin(); it != pending_wills_.end();) {
      if (now >= it->second.when) {
        due.push_back(std::move(it->second.msg));
        it = pending_wills_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& s : ended) redistribute(s);
  for (auto& w : due) publish(w);
  retained_.remove_expired(now);
  return ended.size();
}

size_t Broker::session_count() const {
  std::lock_guard lock(sessions_mutex_);
  return sessions_.size();
}

}  // namespace mqbase::broker
