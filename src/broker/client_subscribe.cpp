// Client: SUBSCRIBE (options, identifiers, shared subscriptions, retained messages) and
// UNSUBSCRIBE.
#include "broker/client.h"
#include "mqtt/topic.h"

namespace mqbase::broker {

using mqtt::PropertyId;
using mqtt::ReasonCode;

void Client::handle_subscribe(const mqtt::Subscribe& s) {
  Stats::add(broker_.stats().messages_received);
  // The retained $SYS values may be a whole sys.interval old (at start-up: clients/connected
  // 0 to the client reading it). Refresh them before this client's filters are added, so it
  // gets the fresh values once, as the retained messages after the SUBACK.
  for (const auto& sub : s.subscriptions) {
    if (mqtt::is_sys_topic(sub.filter)) {
      broker_.refresh_sys();
      break;
    }
  }
  const uint8_t invalid = v5() ? static_cast<uint8_t>(ReasonCode::topic_filter_invalid) : 0x80;
  uint32_t identifier = v5() ? s.props.number(PropertyId::subscription_identifier).value_or(0) : 0;
  mqtt::Suback ack;
  ack.packet_id = s.packet_id;
  ack.codes.reserve(s.subscriptions.size());
  struct Granted {
    std::string filter;
    SubscriptionOptions opts;
    bool is_new;
    bool shared;
  };
  std::vector<Granted> granted;
  for (const auto& sub : s.subscriptions) {
    mqtt::SharedFilter shared;
    auto share = mqtt::parse_shared(sub.filter, shared);
    bool valid = share == mqtt::ShareParse::ok ||
                 (share == mqtt::ShareParse::not_shared && mqtt::valid_topic_filter(sub.filter));
    // limits.max_topic_levels, on the filter the trie holds (without "$share/{group}/").
    if (valid && mqtt::exceeds_levels(share == mqtt::ShareParse::ok ? shared.filter : std::string_view(sub.filter),
                                      broker_.limits().max_topic_levels))
      valid = false;
    if (!valid) {
      ack.codes.push_back(invalid);  // e.g. "a/#/b", "a+", "$share/g", "$share//f"
      continue;
    }
    if (share == mqtt::ShareParse::ok && sub.no_local) {
      // [MQTT-3.8.3-4]: No Local on a shared subscription is a protocol error.
      disconnect_with(ReasonCode::protocol_error, "no local on a shared subscription");
      return;
    }
    SubscriptionOptions opts{sub.qos, sub.no_local, sub.retain_as_published, sub.retain_handling, identifier};
    std::string filter(sub.filter);
    bool is_new = broker_.subscriptions().add(session_, filter, opts);
    session_->remember_subscription(filter, opts);
    ack.codes.push_back(sub.qos);
    granted.push_back({std::move(filter), opts, is_new, share == mqtt::ShareParse::ok});
  }
  send(ack);
  // Retained messages follow the SUBACK, for every filter, new or replaced
  // ([MQTT-3.3.1-6], [MQTT-3.8.4-3]), as Retain Handling allows; never for shared ones.
  std::vector<MessagePtr> retained;
  for (const auto& g : granted) {
    if (g.shared || g.opts.retain_handling == 2 || (g.opts.retain_handling == 1 && !g.is_new)) continue;
    retained.clear();
    broker_.retained().match(g.filter, retained);
    for (const auto& m : retained) {
      Delivery d{std::min(m->qos, g.opts.qos), true, {}, {}, {}};
      if (g.opts.identifier) d.identifiers.push_back(g.opts.identifier);
      session_->deliver(m, d);
    }
  }
}

void Client::handle_unsubscribe(const mqtt::Unsubscribe& u) {
  Stats::add(broker_.stats().messages_received);
  mqtt::Unsuback ack{u.packet_id, {}, {}};
  for (auto f : u.filters) {
    std::string filter(f);
    mqtt::SharedFilter shared;
    auto share = mqtt::parse_shared(filter, shared);
    bool valid = share == mqtt::ShareParse::ok || (share == mqtt::ShareParse::not_shared && mqtt::valid_topic_filter(filter));
    bool removed = valid && broker_.subscriptions().remove(session_.get(), filter);
    session_->forget_subscription(filter);
    if (v5()) {
      ack.codes.push_back(static_cast<uint8_t>(!valid     ? ReasonCode::topic_filter_invalid
                                               : removed ? ReasonCode::success
                                                         : ReasonCode::no_subscription_existed));
    }
  }
  send(ack);
}

}  // namespace mqbase::broker
