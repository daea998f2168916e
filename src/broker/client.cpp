#include "broker/client.h"

#include <spdlog/spdlog.h>

#include "mqtt/encoder.h"
#include "mqtt/topic.h"

namespace mqbase::broker {

using mqtt::PacketType;
using mqtt::ReasonCode;

Client::Client(Broker& broker, std::shared_ptr<ClientLink> link, Clock::time_point now)
    : broker_(broker),
      link_(std::move(link)),
      last_received_(now),
      deadline_(now + std::chrono::milliseconds(broker.limits().connect_timeout_ms)) {}

Client::~Client() = default;

void Client::send(const mqtt::Packet& p) {
  thread_local std::string out;
  out.clear();
  mqtt::encode(p, version_, out);
  link_->send(out, false);
}

void Client::close() {
  closing_ = true;
  link_->close();
}

void Client::on_packet(mqtt::Packet& packet, Clock::time_point now) {
  if (closing_) return;
  last_received_ = now;
  if (!connected()) {
    // [MQTT-3.1.0-1]: the first packet must be CONNECT.
    if (auto* c = std::get_if<mqtt::Connect>(&packet)) {
      handle_connect(*c);
    } else {
      spdlog::debug("closing connection: {} before CONNECT", mqtt::packet_type_name(mqtt::type_of(packet)));
      close();
    }
    return;
  }
  if (keep_alive_ms_ > 0) deadline_ = now + std::chrono::milliseconds(keep_alive_ms_ * 3 / 2);
  std::visit(
      [&](auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, mqtt::Publish>) {
          handle_publish(p);
        } else if constexpr (std::is_same_v<T, mqtt::PubAck>) {
          handle_ack(p);
        } else if constexpr (std::is_same_v<T, mqtt::Subscribe>) {
          handle_subscribe(p);
        } else if constexpr (std::is_same_v<T, mqtt::Unsubscribe>) {
          handle_unsubscribe(p);
        } else if constexpr (std::is_same_v<T, mqtt::Pingreq>) {
          send(mqtt::Pingresp{});
        } else if constexpr (std::is_same_v<T, mqtt::Disconnect>) {
          handle_disconnect(p);
        } else {
          // A second CONNECT ([MQTT-3.1.0-2]) or a packet only a server sends.
          spdlog::debug("client {}: unexpected {}, closing", client_id_, mqtt::packet_type_name(mqtt::type_of(packet)));
          close();
        }
      },
      packet);
}

void Client::refuse_connect(ReasonCode reason) {
  send(mqtt::Connack{false, mqtt::connack_code(reason, version_), {}});
  close();
}

void Client::handle_connect(const mqtt::Connect& c) {
  version_ = c.version;
  if (c.version == mqtt::Version::v5) {
    // MQTT 5 semantics arrive with their own work; answer as a 5.0 server must.
    refuse_connect(ReasonCode::unsupported_protocol_version);
    return;
  }
  auto outcome = broker_.connect(c, link_);
  if (outcome.reason != ReasonCode::success) {
    spdlog::info("refused CONNECT from '{}': {}", c.client_id, mqtt::reason_name(outcome.reason));
    refuse_connect(outcome.reason);
    return;
  }
  session_ = std::move(outcome.session);
  generation_ = outcome.generation;
  client_id_ = session_->client_id();
  if (c.will) will_ = OwnedWill{std::string(c.will->topic), std::string(c.will->payload), c.will->qos, c.will->retain};
  keep_alive_ms_ = uint64_t{std::min(c.keep_alive, broker_.limits().max_keep_alive)} * 1000;
  deadline_ = keep_alive_ms_ > 0 ? last_received_ + std::chrono::milliseconds(keep_alive_ms_ * 3 / 2)
                                 : Clock::time_point::max();
  auto& st = broker_.stats();
  Stats::add(st.clients_connected);
  spdlog::debug("client {} connected (v{}, clean={}, keepalive={})", client_id_, static_cast<int>(c.version),
                c.clean_start, c.keep_alive);
}

void Client::handle_publish(const mqtt::Publish& p) {
  auto& st = broker_.stats();
  Stats::add(st.publish_received);
  Stats::add(st.messages_received);
  auto route = [&] { broker_.publish(make_message(std::string(p.topic), std::string(p.payload), p.qos, p.retain)); };
  switch (p.qos) {
    case 0:
      route();
      break;
    case 1:
      route();
      send(mqtt::PubAck{PacketType::puback, p.packet_id, ReasonCode::success, {}});
      break;
    case 2:
      // Deliver on first receipt, remember the id until PUBREL so a resend is not routed twice.
      if (session_->begin_incoming_qos2(p.packet_id)) route();
      send(mqtt::PubAck{PacketType::pubrec, p.packet_id, ReasonCode::success, {}});
      break;
  }
}

void Client::handle_ack(const mqtt::PubAck& a) {
  Stats::add(broker_.stats().messages_received);
  switch (a.type) {
    case PacketType::puback: session_->on_puback(generation_, a.packet_id); break;
    case PacketType::pubrec: session_->on_pubrec(generation_, a.packet_id); break;
    case PacketType::pubcomp: session_->on_pubcomp(generation_, a.packet_id); break;
    case PacketType::pubrel:
      session_->release_incoming_qos2(a.packet_id);
      send(mqtt::PubAck{PacketType::pubcomp, a.packet_id, ReasonCode::success, {}});
      break;
    default: break;
  }
}

void Client::handle_subscribe(const mqtt::Subscribe& s) {
  Stats::add(broker_.stats().messages_received);
  mqtt::Suback ack;
  ack.packet_id = s.packet_id;
  ack.codes.reserve(s.subscriptions.size());
  for (const auto& sub : s.subscriptions) {
    if (!mqtt::valid_topic_filter(sub.filter)) {
      ack.codes.push_back(0x80);  // failure ([MQTT-3.9.3]); v5 would say 0x8F
      continue;
    }
    SubscriptionOptions opts{sub.qos};
    if (broker_.subscriptions().add(session_, sub.filter, opts)) Stats::add(broker_.stats().subscriptions);
    session_->remember_subscription(std::string(sub.filter), opts);
    ack.codes.push_back(sub.qos);
  }
  send(ack);
  // Retained messages follow the SUBACK, for every filter, new or replaced ([MQTT-3.3.1-6], [MQTT-3.8.4-3]).
  std::vector<MessagePtr> retained;
  for (size_t i = 0; i < s.subscriptions.size(); ++i) {
    if (ack.codes[i] == 0x80) continue;
    retained.clear();
    broker_.retained().match(s.subscriptions[i].filter, retained);
    for (const auto& m : retained) session_->deliver(m, std::min(m->qos, s.subscriptions[i].qos), true);
  }
}

void Client::handle_unsubscribe(const mqtt::Unsubscribe& u) {
  Stats::add(broker_.stats().messages_received);
  for (auto f : u.filters) {
    if (broker_.subscriptions().remove(session_.get(), f)) Stats::sub(broker_.stats().subscriptions);
    session_->forget_subscription(std::string(f));
  }
  send(mqtt::Unsuback{u.packet_id, {}, {}});
}

void Client::handle_disconnect(const mqtt::Disconnect&) {
  will_.reset();  // [MQTT-3.14.4-3]: a DISCONNECT discards the will
  close();
}

void Client::on_decode_error(const mqtt::DecodeResult& error) {
  if (closing_) return;
  spdlog::debug("client {}: {} ({}), closing", client_id_.empty() ? "(not connected)" : client_id_,
                mqtt::reason_name(error.reason), error.error);
  if (!connected() && error.reason == ReasonCode::unsupported_protocol_version) {
    // [MQTT-3.1.2-2]: CONNACK 0x01 then close.
    refuse_connect(ReasonCode::unsupported_protocol_version);
    return;
  }
  close();
}

void Client::on_packet_too_large() {
  spdlog::debug("client {}: packet over the size limit, closing", client_id_);
  close();
}

bool Client::deadline_passed(Clock::time_point now) const { return !closing_ && now >= deadline_; }

void Client::on_deadline() {
  spdlog::debug("client {}: {} deadline passed, closing", client_id_, connected() ? "keep-alive" : "CONNECT");
  close();
}

void Client::on_server_shutdown() {
  will_.reset();
  close();
}

void Client::on_closed() {
  closing_ = true;
  if (!session_) return;
  Stats::sub(broker_.stats().clients_connected);
  if (will_) {
    // [MQTT-3.1.2-8]: published when the connection ends without DISCONNECT.
    broker_.publish(make_message(std::move(will_->topic), std::move(will_->payload), will_->qos, will_->retain));
    will_.reset();
  }
  broker_.disconnect(session_, generation_);
  session_.reset();
}

}  // namespace mqbase::broker
