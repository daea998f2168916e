// Client: PUBLISH from the client (QoS 0/1/2, topic aliases, payload format, message expiry)
// and the acknowledgements of PUBLISHes sent to it.
#include <spdlog/spdlog.h>

#include "broker/client.h"
#include "mqtt/topic.h"
#include "mqtt/utf8.h"

namespace mqbase::broker {

using mqtt::PacketType;
using mqtt::PropertyId;
using mqtt::ReasonCode;

MessagePtr Client::make_routed_message(const mqtt::Publish& p, std::string_view topic, bool stamp) const {
  // A QoS 0 message that is not retained is sent or dropped during publish() and kept by
  // nobody, so the loop reuses one Message (and the capacity of its strings) for all of them:
  // no allocation per message. Should anything still hold the last one, a new one is made.
  thread_local std::shared_ptr<Message> reusable;
  std::shared_ptr<Message> m;
  if (p.qos == 0 && !p.retain && reusable && reusable.use_count() == 1) {
    m = reusable;
    if (m->has_v5_properties()) m->clear_v5_properties();  // what the last one carried
  } else {
    m = std::make_shared<Message>();
    if (p.qos == 0 && !p.retain) reusable = m;
  }
  m->topic.assign(topic);
  m->payload.assign(p.payload);
  m->qos = p.qos;
  m->retain = p.retain;
  m->origin = session_.get();
  m->received_ns = stamp ? std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count()
                         : 0;
  if (v5() && !p.props.empty()) {
    copy_message_properties(p.props, *m);
    if (auto expiry = p.props.number(PropertyId::message_expiry_interval))
      m->expires_at = Clock::now() + std::chrono::seconds(*expiry);
  }
  if (p.qos == 1) {
    if (Persistence* persist = broker_.persistence(); persist && persist->acks_wait()) {
      // Its PUBACK may go once its copies have arrived (Message::unsettled): the copies to
      // connected durable sessions count as the broker routes it (Session::deliver), and so
      // does the routing itself, until it is done (handle_publish).
      m->publisher = link_;
      m->unsettled.n.store(1, std::memory_order_relaxed);
      Persistence::tracker().routing = m.get();
    }
  }
  return m;
}

void Client::handle_publish(const mqtt::Publish& p) {
  auto& st = broker_.stats();
  st.received(p.qos, p.payload.size());
  Stats::add(st.messages_received);
  std::string_view topic = p.topic;
  ReasonCode refusal = ReasonCode::success;
  if (v5()) {
    if (p.props.find(PropertyId::subscription_identifier)) {
      // [MQTT-3.3.4-6]: only the server puts Subscription Identifiers on a PUBLISH.
      disconnect_with(ReasonCode::protocol_error, "subscription identifier in a client PUBLISH");
      return;
    }
    if (auto rt = p.props.string(PropertyId::response_topic); rt && mqtt::has_wildcard(*rt)) {
      // [MQTT-3.3.2-14]: a Response Topic is a topic name; forwarding "reply/+" would have the
      // server send what the spec forbids.
      disconnect_with(ReasonCode::protocol_error, "wildcard in response topic");
      return;
    }
    if (auto alias = p.props.number(PropertyId::topic_alias)) {
      // [MQTT-3.3.2-9/10]: 0 and anything over our Topic Alias Maximum are errors.
      if (*alias == 0 || *alias > broker_.limits().topic_alias_maximum) {
        disconnect_with(ReasonCode::topic_alias_invalid, "topic alias out of range");
        return;
      }
      auto key = static_cast<uint16_t>(*alias);
      if (!topic.empty()) {
        rare().topic_aliases[key] = std::string(topic);
      } else if (auto it = rare().topic_aliases.find(key); it != rare().topic_aliases.end()) {
        topic = it->second;
      } else {
        disconnect_with(ReasonCode::protocol_error, "unknown topic alias");
        return;
      }
    } else if (topic.empty()) {
      disconnect_with(ReasonCode::protocol_error, "empty topic without topic alias");
      return;
    }
    if (p.props.number(PropertyId::payload_format_indicator) == 1u && !mqtt::valid_utf8(p.payload)) {
      if (p.qos == 0) {
        disconnect_with(ReasonCode::payload_format_invalid, "payload is not UTF-8");
        return;
      }
      refusal = ReasonCode::payload_format_invalid;  // [MQTT-3.3.2-...]: refuse, do not route
    }
    if (p.qos == 2 && session_->incoming_qos2_count() >= broker_.limits().receive_maximum) {
      // [MQTT-3.3.4-9]: more unacknowledged QoS 2 than our Receive Maximum.
      disconnect_with(ReasonCode::receive_maximum_exceeded, "receive maximum exceeded");
      return;
    }
  }
  if (mqtt::exceeds_levels(topic, broker_.limits().max_topic_levels)) {
    // Every level is a trie node: limits.max_topic_levels bounds what one topic costs. A 3.x
    // client cannot be told (mosquitto closes too); MQTT 5 hears 0x90 on the acknowledgement,
    // or in a DISCONNECT at QoS 0, which has none.
    if (!v5() || p.qos == 0) {
      disconnect_with(ReasonCode::topic_name_invalid, "topic has more levels than limits.max_topic_levels");
      return;
    }
    refusal = ReasonCode::topic_name_invalid;
  } else if (mqtt::is_sys_topic(topic)) {
    // $SYS belongs to the broker: a client's message there is never routed or retained (as in
    // mosquitto). 0x87 rather than 0x90: the name is valid, this client may not write there.
    // QoS 0 and 3.x publishers, who cannot be told, are acknowledged as usual.
    spdlog::debug("client {}: PUBLISH to '{}' dropped: $SYS is read-only", log_id(), topic);
    st.drop(DropReason::not_authorized);
    refusal = ReasonCode::not_authorized;
  } else if (const auto* acl = broker_.acl(); acl && !acl->may_write(subject(), topic)) {
    // As mosquitto: MQTT 5 hears 0x87 on its PUBACK / PUBREC; QoS 0 and 3.x publishers, who
    // cannot be told, are acknowledged as usual and the message goes nowhere (db/... topics
    // included: the ingest and SQL over MQTT are PUBLISHes too).
    spdlog::debug("client {}: PUBLISH to '{}' denied by the ACL", log_id(), topic);
    Stats::add(st.acl_denied);
    st.drop(DropReason::not_authorized);
    refusal = ReasonCode::not_authorized;
  }
  MessagePtr gate;  // QoS 1 in sync mode: its PUBACK may go once its copies are acknowledged
  std::string reason_string;  // why a sink refused the message (v5)
  auto route = [&]() -> ReasonCode {
    if (refusal != ReasonCode::success) return refusal;
    Broker::PublishNotes notes;
    MessageSink* sink = broker_.sink();
    const bool to_sink = sink && sink->wants(topic);
    MessagePtr msg = make_routed_message(p, topic, to_sink);
    auto& tracker = Persistence::tracker();
    // Telemetry for tables: stored before it is routed; subscribers get it either way.
    MessageSink::Outcome sunk;
    bool sunk_taken = false;
    if (to_sink) {
      sunk = sink->take(*msg, {client_id(), static_cast<uint8_t>(version_)});
      sunk_taken = true;
    }
    size_t n = broker_.publish(msg, &link_, &notes);
    if (tracker.routing == msg.get()) {
      // Routed: the publisher's own count goes; what is left are unacknowledged copies.
      tracker.routing = nullptr;
      if (msg->unsettled.n.fetch_sub(1, std::memory_order_acq_rel) != 1) gate = std::move(msg);
    }
    // A subscriber's queue is full: handle nothing more from this client until it drains
    // (backpressure), rather than acknowledge what would then be dropped.
    if (notes.congested) link_->pause_reading();
    // Routed, but the retained store is full: say so (v5 only; 3.x cannot be told).
    if (notes.retain_refused && v5()) return ReasonCode::quota_exceeded;
    // The store refused a record this message needs (disk full or failing, or over its
    // budget): it is not kept, so it is not acknowledged as kept. MQTT 5 hears 0x97; a 3.x
    // client, which cannot be told, is disconnected without its acknowledgement and sends it
    // again when it reconnects.
    if (Persistence::tracker().refused) return v5() ? ReasonCode::quota_exceeded : ReasonCode::unspecified_error;
    if (mqtt::is_error(sunk.reason)) {
      reason_string = std::move(sunk.reason_string);
      return sunk.reason;
    }
    // Stored in a table: someone took it (0x10 would tell the device nobody heard it).
    return n == 0 && v5() && !sunk_taken ? ReasonCode::no_matching_subscribers : ReasonCode::success;
  };
  switch (p.qos) {
    case 0:
      route();
      break;
    case 1: {
      ReasonCode rc = route();
      if (rc == ReasonCode::unspecified_error && !v5()) {
        refuse_unstored();
        return;
      }
      // Early only for a message that was taken (a refusal waits for nothing of it anyway).
      if (mqtt::is_error(rc)) gate.reset();
      mqtt::PubAck ack{PacketType::puback, p.packet_id, rc, {}};
      if (v5() && !reason_string.empty()) ack.props.add_string(PropertyId::reason_string, reason_string);
      send(ack, std::move(gate));
      break;
    }
    case 2: {
      // Deliver on first receipt, remember the id until PUBREL so a resend is not routed twice.
      ReasonCode rc = ReasonCode::success;
      if (refusal != ReasonCode::success) {
        rc = refusal;  // nothing is kept: a refused QoS 2 flow ends with the PUBREC
      } else if (session_->begin_incoming_qos2(p.packet_id)) {
        // "Id seen" and the message's records for its subscribers in one record (atomic at
        // recovery): Broker::publish writes it before its subscribers may go.
        Persistence* persist = broker_.persistence();
        if (persist) {
          persist->begin_batch();
          session_->persist_incoming_qos2(p.packet_id);
        }
        rc = route();
        if (persist) persist->end_batch();  // when publish() did not (a refusal before routing)
        // A PUBREC >= 0x80 ends the flow: no PUBREL follows, so the id is free again.
        if (mqtt::is_error(rc)) session_->release_incoming_qos2(p.packet_id);
        if (rc == ReasonCode::unspecified_error && !v5()) {
          refuse_unstored();
          return;
        }
      }
      mqtt::PubAck ack{PacketType::pubrec, p.packet_id, rc, {}};
      if (v5() && !reason_string.empty()) ack.props.add_string(PropertyId::reason_string, reason_string);
      send(ack);
      break;
    }
  }
}

void Client::refuse_unstored() {
  spdlog::warn("client {}: message not stored (the store refuses writes: disk full or failing); "
               "closing the 3.x connection without acknowledgement",
               log_id());
  close();
}

void Client::handle_ack(const mqtt::PubAck& a) {
  Stats::add(broker_.stats().messages_received);
  switch (a.type) {
    case PacketType::puback:
      session_->on_puback(generation_, a.packet_id);
      send_retained();
      break;
    case PacketType::pubrec:
      if (auto reason = session_->on_pubrec(generation_, a.packet_id, mqtt::is_error(a.reason)))
        send(mqtt::PubAck{PacketType::pubrel, a.packet_id, *reason, {}});
      break;
    case PacketType::pubcomp:
      session_->on_pubcomp(generation_, a.packet_id);
      send_retained();
      break;
    case PacketType::pubrel: {
      bool known = session_->release_incoming_qos2(a.packet_id);
      // [MQTT-4.3.3-11]: always answer PUBCOMP; v5 says when the id was unknown.
      send(mqtt::PubAck{PacketType::pubcomp, a.packet_id,
                        known ? ReasonCode::success : ReasonCode::packet_identifier_not_found, {}});
      break;
    }
    default: break;
  }
}

}  // namespace mqbase::broker
