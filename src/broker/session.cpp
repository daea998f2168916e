#include "broker/session.h"

#include <algorithm>

#include "mqtt/encoder.h"

namespace mqbase::broker {
namespace {
thread_local std::string scratch;
}

Session::Session(std::string client_id, bool clean, const Limits& limits, Stats& stats)
    : client_id_(std::move(client_id)), limits_(limits), stats_(stats), clean_(clean) {}

bool Session::clean() const {
  std::lock_guard lock(mutex_);
  return clean_;
}

size_t Session::window() const {
  return limits_.max_inflight_messages == 0 ? 65535 : std::min<size_t>(limits_.max_inflight_messages, 65535);
}

uint64_t Session::attach(std::shared_ptr<ClientLink> link, mqtt::Version version, bool clean,
                         std::string_view connack) {
  std::lock_guard lock(mutex_);
  link_ = std::move(link);
  version_ = version;
  clean_ = clean;
  ++generation_;
  link_->send(connack, false);
  // [MQTT-4.4.0-1]: resend unacknowledged PUBLISH (with DUP) and PUBREL, in original order.
  for (const auto& f : inflight_) {
    if (f.state == InflightState::publish_sent) {
      send_publish(f, true);
    } else {
      send_pubrel(f.packet_id);
    }
  }
  pump();
  return generation_;
}

std::shared_ptr<ClientLink> Session::release_link() {
  std::lock_guard lock(mutex_);
  ++generation_;
  return std::move(link_);
}

bool Session::detach(uint64_t gen) {
  std::lock_guard lock(mutex_);
  if (gen != generation_) return false;
  link_.reset();
  ++generation_;
  return true;
}

bool Session::is_current(uint64_t gen) const {
  std::lock_guard lock(mutex_);
  return gen == generation_ && link_;
}

bool Session::connected() const {
  std::lock_guard lock(mutex_);
  return link_ != nullptr;
}

uint16_t Session::next_packet_id() {
  // Skip ids still in flight; the window is far below 65535 so this ends quickly.
  while (true) {
    last_packet_id_ = static_cast<uint16_t>(last_packet_id_ == 65535 ? 1 : last_packet_id_ + 1);
    bool used = std::any_of(inflight_.begin(), inflight_.end(),
                            [&](const Inflight& f) { return f.packet_id == last_packet_id_; });
    if (!used) return last_packet_id_;
  }
}

void Session::send_publish(const Inflight& f, bool dup) {
  scratch.clear();
  mqtt::encode_publish(scratch, version_, f.msg->topic, f.msg->payload, f.qos, f.retain, dup, f.packet_id);
  if (link_->send(scratch, false)) {
    Stats::add(stats_.publish_sent);
    Stats::add(stats_.messages_sent);
  }
}

void Session::send_pubrel(uint16_t packet_id) {
  scratch.clear();
  mqtt::encode(mqtt::PubAck{mqtt::PacketType::pubrel, packet_id, mqtt::ReasonCode::success, {}}, version_, scratch);
  link_->send(scratch, false);
}

void Session::pump() {
  if (!link_) return;
  while (!queue_.empty() && inflight_.size() < window()) {
    Queued q = std::move(queue_.front());
    queue_.pop_front();
    inflight_.push_back({next_packet_id(), InflightState::publish_sent, q.qos, q.retain, std::move(q.msg)});
    send_publish(inflight_.back(), false);
  }
}

void Session::deliver(const MessagePtr& msg, uint8_t qos, bool retain_flag) {
  std::lock_guard lock(mutex_);
  if (qos == 0) {
    if (!link_) return;  // QoS 0 is not queued for offline sessions
    scratch.clear();
    mqtt::encode_publish(scratch, version_, msg->topic, msg->payload, 0, retain_flag, false, 0);
    if (link_->send(scratch, true)) {
      Stats::add(stats_.publish_sent);
      Stats::add(stats_.messages_sent);
    } else {
      Stats::add(stats_.publish_dropped);
    }
    return;
  }
  // Keep order behind anything already waiting.
  if (link_ && queue_.empty() && inflight_.size() < window()) {
    inflight_.push_back({next_packet_id(), InflightState::publish_sent, qos, retain_flag, msg});
    send_publish(inflight_.back(), false);
    return;
  }
  if (limits_.max_queued_messages != 0 && queue_.size() >= limits_.max_queued_messages) {
    Stats::add(stats_.publish_dropped);
    return;
  }
  queue_.push_back({msg, qos, retain_flag});
}

void Session::on_puback(uint64_t gen, uint16_t packet_id) {
  std::lock_guard lock(mutex_);
  if (gen != generation_) return;
  auto it = std::find_if(inflight_.begin(), inflight_.end(), [&](const Inflight& f) {
    return f.packet_id == packet_id && f.qos == 1;
  });
  if (it == inflight_.end()) return;
  inflight_.erase(it);
  pump();
}

void Session::on_pubrec(uint64_t gen, uint16_t packet_id) {
  std::lock_guard lock(mutex_);
  if (gen != generation_ || !link_) return;
  auto it = std::find_if(inflight_.begin(), inflight_.end(), [&](const Inflight& f) {
    return f.packet_id == packet_id && f.qos == 2;
  });
  if (it != inflight_.end()) {
    it->state = InflightState::pubrel_sent;
    it->msg.reset();  // the payload is no longer needed once the receiver has it
  }
  // [MQTT-4.3.3-...]: a PUBREC is answered with PUBREL even for an unknown id (v5 would add 0x92).
  send_pubrel(packet_id);
}

void Session::on_pubcomp(uint64_t gen, uint16_t packet_id) {
  std::lock_guard lock(mutex_);
  if (gen != generation_) return;
  auto it = std::find_if(inflight_.begin(), inflight_.end(), [&](const Inflight& f) {
    return f.packet_id == packet_id && f.state == InflightState::pubrel_sent;
  });
  if (it == inflight_.end()) return;
  inflight_.erase(it);
  pump();
}

bool Session::begin_incoming_qos2(uint16_t packet_id) {
  std::lock_guard lock(mutex_);
  return incoming_qos2_.insert(packet_id).second;
}

void Session::release_incoming_qos2(uint16_t packet_id) {
  std::lock_guard lock(mutex_);
  incoming_qos2_.erase(packet_id);
}

void Session::remember_subscription(const std::string& filter, SubscriptionOptions opts) {
  std::lock_guard lock(mutex_);
  subscriptions_[filter] = opts;
}

void Session::forget_subscription(const std::string& filter) {
  std::lock_guard lock(mutex_);
  subscriptions_.erase(filter);
}

std::map<std::string, SubscriptionOptions> Session::take_subscriptions() {
  std::lock_guard lock(mutex_);
  auto subs = std::move(subscriptions_);
  subscriptions_.clear();
  return subs;
}

size_t Session::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

size_t Session::inflight() const {
  std::lock_guard lock(mutex_);
  return inflight_.size();
}

}  // namespace mqbase::broker
