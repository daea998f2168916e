// Client: dispatch, DISCONNECT, deadlines and the end of a connection. The packet families
// live in client_connect.cpp, client_publish.cpp, client_subscribe.cpp and client_auth.cpp.
#include "broker/client.h"

#include <spdlog/spdlog.h>

#include "mqtt/encoder.h"

namespace mqbase::broker {

using mqtt::PacketType;
using mqtt::PropertyId;
using mqtt::ReasonCode;

Client::Client(Broker& broker, std::shared_ptr<ClientLink> link, Clock::time_point now)
    : broker_(broker),
      link_(std::move(link)),
      deadline_(now + std::chrono::milliseconds(broker.limits().connect_timeout_ms)) {}

Client::~Client() = default;

const std::string& Client::client_id() const {
  static const std::string none;
  return session_ ? session_->client_id() : none;
}

std::string_view Client::log_id() const {
  return session_ ? std::string_view(session_->client_id()) : std::string_view("(not connected)");
}

void Client::send(const mqtt::Packet& p, MessagePtr gate) {
  thread_local std::string out;
  out.clear();
  mqtt::encode(p, version_, out);
  send_durable(out, std::move(gate));
}

// The durability gate. In sync mode an acknowledgement promises that what it acknowledges is
// on disk: the packet waits until the store's durable LSN reaches what this packet's handling
// wrote. Packets keep their order: one sent behind a held packet is held too. A client that
// keeps sending while many of its packets wait stops being read (hold_input), so what waits
// stays bounded by the Receive Maximum rather than by how fast it can write.
Lsn Client::durable_needed(Lsn Persistence::Tracker::*what) const {
  Persistence* persist = broker_.persistence();
  Lsn need = persist && persist->acks_wait() ? Persistence::tracker().*what : 0;
  return need != 0 && need > persist->durable_lsn() ? need : 0;
}

void Client::send_durable(std::string_view bytes, MessagePtr gate) {
  Lsn need = durable_needed();
  Lsn fallback = need;
  if (gate) {
    // The copies' records count only while a copy is unacknowledged.
    fallback = std::max(fallback, durable_needed(&Persistence::Tracker::settled_by_ack));
    if (fallback == need) gate.reset();  // nothing to wait for beyond `need`
  }
  bool holding = rare_ && !rare_->held.empty();
  if (!holding && fallback == 0) {
    link_->send(bytes, SendMode::reliable);
    return;
  }
  hold(fallback, Held::bytes, bytes, std::move(gate), need);
}

void Client::hold(Lsn lsn, Held what, std::string_view bytes, MessagePtr gate, Lsn hard) {
  auto& r = rare();
  r.held_lsn = std::max(r.held_lsn, lsn);
  // Held packets go in order; a packet behind a gated PUBACK need not wait for what that
  // PUBACK's acknowledged copies wrote, only for what everything before it needs.
  r.held_hard = std::max(r.held_hard, gate ? hard : lsn);
  if (gate)
    r.held.push_back({r.held_lsn, what, std::string(bytes), r.held_hard, std::move(gate)});
  else
    r.held.push_back({r.held_hard, what, std::string(bytes), 0, nullptr});
  if (r.held.size() == 1) link_->await_durable(r.held.front().lsn);
  if (!r.input_held && r.held.size() >= broker_.limits().receive_maximum) {
    r.input_held = true;
    link_->hold_input(true);
  }
}

void Client::close_when_durable() {
  closing_ = true;  // nothing after a DISCONNECT is handled ([MQTT-3.14.4-...])
  Lsn need = durable_needed();
  if ((rare_ && !rare_->held.empty()) || need != 0) {
    hold(need, Held::close);
    return;
  }
  link_->close();
}

void Client::on_durable(Lsn durable) {
  if (!session_) return;
  session_->on_durable(durable);
  if (!rare_) return;
  auto& r = *rare_;
  while (!r.held.empty() && r.held.front().ready(durable)) {
    auto h = std::move(r.held.front());
    r.held.pop_front();
    switch (h.what) {
      case Held::bytes: link_->send(h.bytes, SendMode::reliable); break;
      case Held::start_session: session_->start(generation_); break;
      case Held::close: link_->close(); break;
    }
  }
  if (!r.held.empty()) {
    link_->await_durable(r.held.front().lsn);
  } else if (r.input_held) {
    r.input_held = false;
    link_->hold_input(false);
  }
}

template <typename P>
void Client::send_with_reason_string(P packet, std::string_view why) {
  if (v5() && !why.empty() && problem_information_) {
    packet.props.add_string(PropertyId::reason_string, why);
    thread_local std::string out;
    out.clear();
    mqtt::encode(packet, version_, out);
    if (peer_max_packet_size_ == 0 || out.size() <= peer_max_packet_size_) {
      send_durable(out, nullptr);  // behind whatever is held, as any other packet
      return;
    }
    packet.props.items.clear();
  }
  send(packet);
}

template void Client::send_with_reason_string(mqtt::Connack, std::string_view);
template void Client::send_with_reason_string(mqtt::Disconnect, std::string_view);
template void Client::send_with_reason_string(mqtt::Suback, std::string_view);

void Client::close() {
  closing_ = true;
  link_->close();
}

void Client::disconnect_with(ReasonCode reason, std::string_view why) {
  if (closing_) return;
  // [MQTT-3.14.0-1]: a server DISCONNECT only after a successful CONNACK.
  if (v5() && connected()) send_with_reason_string(mqtt::Disconnect{reason, {}}, why);
  // The DISCONNECT, and the close, wait behind what is held for the disk (a CONNACK, PUBACKs):
  // closing at once would drop them, and a client that never saw its CONNACK reconnects.
  close_when_durable();
}

void Client::arm_keep_alive(Clock::time_point now) {
  // 1.5 times the keep-alive ([MQTT-3.1.2-24]).
  deadline_ = keep_alive_ > 0 ? now + std::chrono::milliseconds(keep_alive_ * 1500) : Clock::time_point::max();
}

void Client::on_packet(mqtt::Packet& packet, Clock::time_point now) {
  if (closing_) return;
  // What the handling of this packet writes to the store, for its acknowledgement to wait on.
  Persistence::reset_tracker();
  struct ResetAfter {
    ~ResetAfter() { Persistence::reset_tracker(); }
  } reset_after;
  if (!connected()) {
    if (auto* c = std::get_if<mqtt::Connect>(&packet); c && !connect_pending()) {
      handle_connect(*c);  // [MQTT-3.1.0-1]: the first packet must be CONNECT
    } else if (auto* a = std::get_if<mqtt::Auth>(&packet); a && connect_pending()) {
      handle_auth(*a);  // enhanced authentication before CONNACK
    } else {
      spdlog::debug("closing connection: {} before CONNACK", mqtt::packet_type_name(mqtt::type_of(packet)));
      close();
    }
    if (connected()) arm_keep_alive(now);  // this packet completed the CONNECT: keep-alive from here
    return;
  }
  arm_keep_alive(now);
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
        } else if constexpr (std::is_same_v<T, mqtt::Auth>) {
          handle_auth(p);
        } else {
          // A second CONNECT ([MQTT-3.1.0-2]) or a packet only a server sends.
          spdlog::debug("client {}: unexpected {}, closing", log_id(), mqtt::packet_type_name(mqtt::type_of(packet)));
          disconnect_with(ReasonCode::protocol_error, "unexpected packet");
        }
      },
      packet);
}

void Client::handle_disconnect(const mqtt::Disconnect& d) {
  if (v5()) {
    if (auto expiry = d.props.number(PropertyId::session_expiry_interval)) {
      // [MQTT-3.14.2-2]: a session that was to end with the connection cannot be extended now.
      if (connect_session_expiry_ == 0 && *expiry != 0) {
        disconnect_with(ReasonCode::protocol_error, "session expiry set on DISCONNECT after 0 on CONNECT");
        return;
      }
      session_->set_expiry_interval(*expiry);
    }
    // [MQTT-3.1.2-8], [MQTT-3.14.4-3]: only a normal disconnection (0x00) discards the will;
    // 0x04 "Disconnect with Will Message" and error reasons keep it armed.
    if (d.reason == ReasonCode::success) will_ = {};
  } else {
    will_ = {};  // [MQTT-3.14.4-3]: a DISCONNECT discards the will
  }
  if (!will_.msg) session_->clear_will(generation_);
  // The will discarded, the session's end (expiry 0) or its new expiry go to disk, and the
  // connection closes once they are there.
  broker_.persist_disconnect(session_, generation_);
  close_when_durable();
}

void Client::on_decode_error(const mqtt::DecodeResult& error) {
  if (closing_) return;
  spdlog::debug("client {}: {} ({}), closing", log_id(), mqtt::reason_name(error.reason), error.error);
  if (!connected() && error.reason == ReasonCode::unsupported_protocol_version) {
    // [MQTT-3.1.2-2]: CONNACK 0x01 then close.
    refuse_connect(ReasonCode::unsupported_protocol_version);
    return;
  }
  disconnect_with(error.reason, error.error);
}

void Client::on_packet_too_large() {
  spdlog::debug("client {}: packet over the size limit, closing", log_id());
  disconnect_with(ReasonCode::packet_too_large, "packet larger than the maximum packet size");
}

void Client::on_server_disconnect(ReasonCode reason) { disconnect_with(reason); }

void Client::on_server_shutdown() {
  will_ = {};
  if (session_) session_->clear_will(generation_);
  disconnect_with(ReasonCode::server_shutting_down);
}

bool Client::deadline_passed(Clock::time_point now) const { return !closing_ && now >= deadline_; }

void Client::on_deadline() {
  spdlog::debug("client {}: {} deadline passed, closing", log_id(), connected() ? "keep-alive" : "CONNECT");
  disconnect_with(ReasonCode::keep_alive_timeout, "keep alive timeout");
}

void Client::on_closed() {
  closing_ = true;
  if (!session_) return;
  Stats::sub(broker_.stats().clients_connected);
  if (rare_) rare_->held.clear();  // never acknowledged: the client sends them again
  // The session's copy of the will goes (it is scheduled again below when it waits), unless a
  // new connection has taken the session over: then the copy is that connection's will.
  session_->clear_will(generation_);
  if (Will will = std::move(will_); will.msg) {
    // [MQTT-3.1.2-8]: published when the connection ends without a normal DISCONNECT, after
    // the Will Delay Interval or when the session ends, whichever is first ([MQTT-3.1.3-9]).
    uint32_t delay = std::min(will.delay, session_->expiry_interval());
    auto when = Clock::now() + std::chrono::seconds(delay);
    if (will.expiry > 0) {
      auto copy = std::make_shared<Message>(*will.msg);
      copy->expires_at = when + std::chrono::seconds(will.expiry);
      will.msg = std::move(copy);
    }
    if (delay > 0) {
      // Taken over: the new connection cancels a delayed will ([MQTT-3.1.3-9]). The broker
      // checks and schedules under the lock a takeover takes, so whichever comes first, the
      // will does not go out: the new CONNECT erases a scheduled one, the check drops a late one.
      broker_.schedule_will(session_, generation_, std::move(will), when);
    } else {
      broker_.publish_will(will.msg, session_.get());
    }
  }
  broker_.disconnect(session_, generation_);
  if (rare_) {
    // Retained messages at QoS 1/2 not yet sent stay with a session that lives on, as any
    // message queued for it while it is away.
    for (auto& r : rare_->retained_backlog)
      if (r.delivery.qos > 0) session_->deliver(r.msg, r.delivery);
    rare_->retained_backlog.clear();
  }
  session_.reset();
}

}  // namespace mqbase::broker
