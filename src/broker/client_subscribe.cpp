// Client: SUBSCRIBE (options, identifiers, shared subscriptions, retained messages) and
// UNSUBSCRIBE.
#include <algorithm>

#include <spdlog/spdlog.h>

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
  const uint8_t over_quota = v5() ? static_cast<uint8_t>(ReasonCode::quota_exceeded) : 0x80;
  const uint8_t denied = v5() ? static_cast<uint8_t>(ReasonCode::not_authorized) : 0x80;
  const auto* acl = broker_.acl();
  uint32_t identifier = v5() ? s.props.number(PropertyId::subscription_identifier).value_or(0) : 0;
  // History first (docs/replay.md): the user property replay-from asks for the archived
  // messages of each filter since then, before the live ones.
  std::optional<std::string_view> replay_from;
  if (v5())
    for (const auto& p : s.props.items)
      if (p.id == PropertyId::user_property && p.value == "replay-from") replay_from = p.value2;
  std::string replay_error;  // the SUBACK's reason string when a replay cannot be made
  std::vector<std::shared_ptr<ReplayFeed>> feeds;  // per wanted filter (null: none)
  mqtt::Suback ack;
  ack.packet_id = s.packet_id;
  ack.codes.reserve(s.subscriptions.size());
  std::vector<std::pair<std::string, SubscriptionOptions>> wanted;
  std::vector<size_t> code_of;  // the ack.codes slot of each wanted filter
  std::vector<bool> shared;
  for (const auto& sub : s.subscriptions) {
    mqtt::SharedFilter sf;
    auto share = mqtt::parse_shared(sub.filter, sf);
    bool valid = share == mqtt::ShareParse::ok ||
                 (share == mqtt::ShareParse::not_shared && mqtt::valid_topic_filter(sub.filter));
    // limits.max_topic_levels, on the filter the trie holds (without "$share/{group}/").
    if (valid && mqtt::exceeds_levels(share == mqtt::ShareParse::ok ? sf.filter : std::string_view(sub.filter),
                                      broker_.limits().max_topic_levels))
      valid = false;
    if (!valid) {
      ack.codes.push_back(invalid);  // e.g. "a/#/b", "a+", "$share/g", "$share//f"
      continue;
    }
    // The ACL judges the filter the trie holds: "$share/g/f" is checked as f.
    if (acl && !acl->may_subscribe(subject(), share == mqtt::ShareParse::ok ? sf.filter : std::string_view(sub.filter))) {
      spdlog::debug("client {}: SUBSCRIBE '{}' denied by the ACL", log_id(), sub.filter);
      Stats::add(broker_.stats().acl_denied);
      ack.codes.push_back(denied);
      continue;
    }
    if (share == mqtt::ShareParse::ok && sub.no_local) {
      // [MQTT-3.8.3-4]: No Local on a shared subscription is a protocol error.
      disconnect_with(ReasonCode::protocol_error, "no local on a shared subscription");
      return;
    }
    std::shared_ptr<ReplayFeed> feed;
    if (replay_from) {
      std::string error;
      if (share == mqtt::ShareParse::ok)
        error = "replay-from: not for shared subscriptions";
      else if (ReplayProvider* provider = broker_.replay_provider(); !provider)
        error = "replay-from: no archive (an [[ingest]] rule with archive = true) on this server";
      else
        feed = provider->prepare(std::string(sub.filter), sub.qos, *replay_from, &error);
      if (!feed) {
        spdlog::debug("client {}: SUBSCRIBE '{}' refused: {}", log_id(), sub.filter, error);
        if (replay_error.empty()) replay_error = std::move(error);
        ack.codes.push_back(static_cast<uint8_t>(ReasonCode::implementation_specific_error));
        continue;
      }
      // Each archived message meets the ACL as a live delivery does (Broker::publish): the
      // filter was granted, but a deny rule may withhold some of the topics it covers. The
      // check holds the login as it is now, not the session (whose lock the replay holds).
      session_->begin_replay(feed, identifier, broker_.read_check(client_id(), login()));
    }
    feeds.push_back(std::move(feed));
    code_of.push_back(ack.codes.size());
    ack.codes.push_back(sub.qos);
    wanted.emplace_back(std::string(sub.filter),
                        SubscriptionOptions{sub.qos, sub.no_local, sub.retain_as_published, sub.retain_handling, identifier});
    shared.push_back(share == mqtt::ShareParse::ok);
  }
  // All filters under one exclusive lock of the index; nothing when this connection has been
  // taken over (it is closing, and the session is the new connection's now).
  auto results = broker_.subscribe(session_, generation_, wanted);
  if (!results) {
    for (auto& f : feeds)
      if (f) f->cancel();
    session_->replay_ready();  // what waited behind them goes now
    return;
  }
  // Over the subscription quota, or not kept by a full or failing store: v5 0x97, 3.1.1 0x80.
  for (size_t i = 0; i < wanted.size(); ++i) {
    auto r = (*results)[i];
    if (r == Broker::SubscribeResult::quota_exceeded || r == Broker::SubscribeResult::store_refused) {
      ack.codes[code_of[i]] = over_quota;
      if (feeds[i]) {
        feeds[i]->cancel();
        feeds[i].reset();
        session_->replay_ready();  // what waited behind it goes now
      }
    }
  }
  if (std::any_of(results->begin(), results->end(),
                  [](auto r) { return r == Broker::SubscribeResult::store_refused; }))
    spdlog::warn("client {}: SUBSCRIBE refused: the store takes no records now (disk full, failing or over its budget)",
                 log_id());
  send_with_reason_string(std::move(ack), replay_error);
  // The subscriptions are in the index: the replays read what was archived before now, and
  // their messages follow the SUBACK.
  for (auto& f : feeds)
    if (f) broker_.replay_provider()->start(f, session_);
  // Retained messages follow the SUBACK, for every filter, new or replaced
  // ([MQTT-3.3.1-6], [MQTT-3.8.4-3]), as Retain Handling allows; never for shared ones. They
  // go out at the client's pace (send_retained), however many there are.
  std::vector<MessagePtr> retained;
  for (size_t i = 0; i < wanted.size(); ++i) {
    const auto& [filter, opts] = wanted[i];
    auto result = (*results)[i];
    // A replay brings the history, the retained message's included.
    if (result == Broker::SubscribeResult::quota_exceeded || result == Broker::SubscribeResult::store_refused ||
        shared[i] || feeds[i] || opts.retain_handling == 2 ||
        (opts.retain_handling == 1 && result != Broker::SubscribeResult::added))
      continue;
    retained.clear();
    broker_.retained().match(filter, retained);
    for (auto& m : retained) {
      if (acl && !acl->may_read(subject(), m->topic)) continue;  // as any delivery (Broker::publish)
      Delivery d{std::min(m->qos, opts.qos), true, {}, {}, {}};
      d.paced = true;
      if (opts.identifier) d.identifiers.push_back(opts.identifier);
      rare().retained_backlog.push_back({std::move(m), std::move(d)});
    }
  }
  send_retained();
}

void Client::send_retained() {
  if (!rare_ || rare_->retained_backlog.empty() || closing_ || !session_) return;
  const Limits& limits = broker_.limits();
  const size_t byte_mark = limits.max_write_buffer / 2;
  const size_t queue_mark = limits.max_queued_messages == 0 ? 1000 : std::max<size_t>(1, limits.max_queued_messages / 2);
  auto& backlog = rare_->retained_backlog;
  while (!backlog.empty()) {
    if (link_->unsent_bytes() >= byte_mark) {
      link_->request_writable_notice();  // on_writable() continues
      return;
    }
    auto& next = backlog.front();
    if (next.delivery.qos > 0 && session_->queued() >= queue_mark) return;  // acknowledgements continue
    session_->deliver(next.msg, next.delivery);
    backlog.pop_front();
  }
}

void Client::on_writable() {
  send_retained();
  if (session_) session_->replay_ready();  // a replay waits for room in the write buffer
}

void Client::handle_unsubscribe(const mqtt::Unsubscribe& u) {
  Stats::add(broker_.stats().messages_received);
  mqtt::Unsuback ack{u.packet_id, {}, {}};
  std::vector<std::string> filters;
  std::vector<bool> valid;
  for (auto f : u.filters) {
    mqtt::SharedFilter shared;
    auto share = mqtt::parse_shared(f, shared);
    valid.push_back(share == mqtt::ShareParse::ok ||
                    (share == mqtt::ShareParse::not_shared && mqtt::valid_topic_filter(f)));
    filters.emplace_back(f);
  }
  auto removed = broker_.unsubscribe(session_, generation_, filters);
  if (!removed) return;  // taken over: the session is the new connection's
  if (v5()) {
    for (size_t i = 0; i < filters.size(); ++i) {
      ack.codes.push_back(static_cast<uint8_t>(!valid[i]       ? ReasonCode::topic_filter_invalid
                                               : (*removed)[i] ? ReasonCode::success
                                                               : ReasonCode::no_subscription_existed));
    }
  }
  send(ack);
}

}  // namespace mqbase::broker
