// Client: CONNECT and CONNACK — client id, Clean Start / Session Expiry, the will and its
// properties, keep-alive, the client's limits, and enhanced authentication's start.
#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include "broker/client.h"
#include "mqtt/encoder.h"
#include "mqtt/topic.h"
#include "mqtt/utf8.h"

namespace mqbase::broker {

using mqtt::PropertyId;
using mqtt::ReasonCode;

void Client::copy_message_properties(const mqtt::Properties& props, Message& m) {
  for (const auto& p : props.items) {
    switch (p.id) {
      case PropertyId::payload_format_indicator: m.payload_format = static_cast<uint8_t>(p.number); break;
      case PropertyId::content_type: m.content_type = std::string(p.value); break;
      case PropertyId::response_topic: m.response_topic = std::string(p.value); break;
      case PropertyId::correlation_data: m.correlation_data = std::string(p.value); break;
      case PropertyId::user_property: m.user_properties.emplace_back(p.value, p.value2); break;
      default: break;
    }
  }
}

void Client::refuse_connect(ReasonCode reason, std::string_view why) {
  send_with_reason_string(mqtt::Connack{false, mqtt::connack_code(reason, version_), {}}, why);
  close();
}

void Client::refuse_login(ReasonCode reason, std::chrono::milliseconds delay, std::string_view why,
                          std::string_view client_id, std::string_view listener) {
  Stats::add(broker_.stats().login_failures);
  spdlog::info("refused CONNECT from '{}' at {} on listener {}: {}{}", client_id, link_->peer_address(), listener, why,
               delay.count() ? fmt::format(" (answered after {} ms: too many failures from this address)", delay.count())
                             : std::string());
  if (delay.count() == 0) {
    refuse_connect(reason, why);
    return;
  }
  // Nothing more is read from this connection; the CONNACK goes once the delay is over.
  closing_ = true;
  link_->defer(delay, [this, reason, why = std::string(why)] { refuse_connect(reason, why); });
}

bool Client::admit(const mqtt::Connect& c, PendingConnect& p) {
  const LinkSecurity security = link_->security();
  auth::AccessControl& access = *broker_.access_control();
  auto& username = p.request.username;
  if (security.identity_as_username) {
    // The certificate names the client (mosquitto's use_identity_as_username): no password.
    if (security.cert_identity.empty()) {
      refuse_login(ReasonCode::not_authorized, {}, "no client certificate to take the user name from",
                   p.request.client_id, security.listener);
      return false;
    }
    username = std::make_shared<const std::string>(security.cert_identity);
  } else {
    if (c.username) username = std::make_shared<const std::string>(*c.username);
    // MQTT 5 enhanced authentication decides by its own exchange (client_auth.cpp).
    const bool enhanced = v5() && c.props.find(PropertyId::authentication_method);
    if (!enhanced) {
      const std::string peer = link_->peer_address();
      auth::AccessControl::Login login{c.username, c.password, security.allow_anonymous, peer};
      login.accept_token = true;
      auto d = access.login(login);
      if (d.verdict != auth::AccessControl::Verdict::accepted) {
        refuse_login(d.verdict == auth::AccessControl::Verdict::bad_credentials ? ReasonCode::bad_user_name_or_password
                                                                                 : ReasonCode::not_authorized,
                     d.delay, d.why, p.request.client_id, security.listener);
        return false;
      }
      if (d.token) {  // the token names the user, and may bring grants
        username = std::make_shared<const std::string>(std::move(d.token->username));
        p.request.grants = std::move(d.token->grants);
        p.valid_until = d.token->valid_until;
      }
    }
  }
  return true;
}

bool Client::will_permitted(const PendingConnect& p) {
  // The will is a PUBLISH made in advance: refused now, while the client can be told, when
  // the ACL would not let it write there.
  const auto* acl = broker_.acl();
  if (acl && p.request.will.msg &&
      !acl->may_write(auth::AclSubject::of(p.request.client_id, p.request.username.get(), p.request.grants.get()),
                      p.request.will.msg->topic)) {
    Stats::add(broker_.stats().acl_denied);
    spdlog::info("refused CONNECT from '{}' at {}: the ACL does not allow its will topic '{}'", p.request.client_id,
                 link_->peer_address(), p.request.will.msg->topic);
    refuse_connect(ReasonCode::not_authorized, "the ACL does not allow the will topic");
    return false;
  }
  return true;
}

void Client::handle_connect(const mqtt::Connect& c) {
  version_ = c.version;
  const Limits& limits = broker_.limits();
  PendingConnect p;
  auto& req = p.request;
  req.version = c.version;
  req.client_id = std::string(c.client_id);
  req.clean_start = c.clean_start;
  req.peer.version = c.version;
  if (v5()) {
    req.session_expiry = c.props.number(PropertyId::session_expiry_interval).value_or(0);
    req.peer.receive_maximum = static_cast<uint16_t>(c.props.number(PropertyId::receive_maximum).value_or(65535));
    req.peer.maximum_packet_size = c.props.number(PropertyId::maximum_packet_size).value_or(0);
    req.peer.topic_alias_maximum = static_cast<uint16_t>(c.props.number(PropertyId::topic_alias_maximum).value_or(0));
    p.problem_information = c.props.number(PropertyId::request_problem_information).value_or(1) == 1;
    peer_max_packet_size_ = req.peer.maximum_packet_size;
  } else {
    req.session_expiry = c.clean_start ? 0 : kSessionNeverExpires;
  }
  problem_information_ = p.problem_information;
  p.keep_alive = c.keep_alive;
  if (c.keep_alive > limits.max_keep_alive || (c.keep_alive == 0 && limits.max_keep_alive < 65535 && v5())) {
    if (!v5()) {
      // 3.x cannot be told a shorter keep-alive; refuse rather than time out a compliant
      // client early (mosquitto's max_keepalive does the same).
      refuse_connect(ReasonCode::client_identifier_not_valid);
      return;
    }
    p.keep_alive = limits.max_keep_alive;  // v5: told in CONNACK's Server Keep Alive
    p.keep_alive_clamped = true;
  }
  if (c.username) p.username = std::string(*c.username);
  if (c.will) {
    auto& w = p.request.will;
    auto will = std::make_shared<Message>();
    will->topic = std::string(c.will->topic);
    will->payload = std::string(c.will->payload);
    will->qos = c.will->qos;
    will->retain = c.will->retain;
    // A will is a PUBLISH made in advance: its topic obeys the same rules, checked now, while
    // the client can still be told.
    if (mqtt::exceeds_levels(will->topic, limits.max_topic_levels)) {
      spdlog::debug("refused CONNECT: will topic has more than {} levels", limits.max_topic_levels);
      if (v5())
        refuse_connect(ReasonCode::topic_name_invalid, "will topic has more levels than limits.max_topic_levels");
      else
        close();  // 3.x has no return code for it: closed, as a too deep PUBLISH would be
      return;
    }
    if (mqtt::is_sys_topic(will->topic)) {
      refuse_connect(ReasonCode::not_authorized, "will topic under $SYS");  // 3.x: return code 5
      return;
    }
    if (v5()) {
      copy_message_properties(c.will->props, *will);
      w.delay = c.will->props.number(PropertyId::will_delay_interval).value_or(0);
      w.expiry = c.will->props.number(PropertyId::message_expiry_interval).value_or(0);
      if (will->response_topic && mqtt::has_wildcard(*will->response_topic)) {
        refuse_connect(ReasonCode::protocol_error, "wildcard in the will's response topic");
        return;
      }
      if (will->payload_format == 1 && !mqtt::valid_utf8(will->payload)) {
        refuse_connect(ReasonCode::payload_format_invalid, "will payload is not UTF-8");
        return;
      }
    }
    w.msg = std::move(will);
  }
  if (!admit(c, p)) return;
  if (v5()) {
    if (c.props.find(PropertyId::authentication_data) && !c.props.find(PropertyId::authentication_method)) {
      // 5.0 section 3.1.2.11.10: Authentication Data without a method is a protocol error.
      refuse_connect(ReasonCode::protocol_error, "authentication data without authentication method");
      return;
    }
    if (auto method = c.props.string(PropertyId::authentication_method)) {
      rare().pending_connect = std::move(p);
      start_auth(*method, c.props.string(PropertyId::authentication_data).value_or(std::string_view{}));
      return;
    }
  }
  finish_connect(p, {});
}

void Client::finish_connect(PendingConnect& p, std::string_view auth_data) {
  if (!will_permitted(p)) return;
  const Limits& limits = broker_.limits();
  auto build_connack = [&](bool present, const std::string& assigned) {
    // MQTT 3.1 has no Session Present: that byte is reserved there.
    mqtt::Connack ack{present && version_ != mqtt::Version::v31, 0, {}};
    if (v5()) {
      auto& props = ack.props;
      if (!assigned.empty()) props.add_string(PropertyId::assigned_client_identifier, assigned);
      if (limits.receive_maximum < 65535) props.add_number(PropertyId::receive_maximum, limits.receive_maximum);
      if (limits.max_packet_size < mqtt::kMaxRemainingLength + 5)
        props.add_number(PropertyId::maximum_packet_size, limits.max_packet_size);
      if (limits.topic_alias_maximum > 0) props.add_number(PropertyId::topic_alias_maximum, limits.topic_alias_maximum);
      if (p.keep_alive_clamped) props.add_number(PropertyId::server_keep_alive, p.keep_alive);
      // What this server supports, said explicitly ([MQTT-3.2.2-...]).
      props.add_number(PropertyId::retain_available, 1);
      props.add_number(PropertyId::wildcard_subscription_available, 1);
      props.add_number(PropertyId::subscription_identifier_available, 1);
      props.add_number(PropertyId::shared_subscription_available, 1);
      if (!auth_method().empty()) {
        props.add_string(PropertyId::authentication_method, auth_method());
        if (!auth_data.empty()) props.add_string(PropertyId::authentication_data, auth_data);
      }
    }
    std::string out;
    mqtt::encode(ack, version_, out);
    return out;
  };
  auto outcome = broker_.connect(p.request, link_, build_connack);
  if (outcome.reason != ReasonCode::success) {
    if (outcome.store_refused)
      spdlog::warn("refused CONNECT from '{}': its session or will needs a record and the store takes none now "
                   "(disk full, failing or over its budget)",
                   p.request.client_id);
    else
      spdlog::info("refused CONNECT from '{}': {}", p.request.client_id, mqtt::reason_name(outcome.reason));
    refuse_connect(outcome.reason, mqtt::reason_name(outcome.reason));
    return;
  }
  session_ = std::move(outcome.session);
  generation_ = outcome.generation;
  username_ = p.request.username;
  if (p.request.grants) rare().grants = p.request.grants;
  if (p.valid_until) arm_token_expiry(*p.valid_until);
  // The session's record is not on disk yet: its CONNACK (and all after it) waits for it.
  if (outcome.deferred) hold(Persistence::tracker().needed, Held::start_session);
  connect_session_expiry_ = p.request.session_expiry;
  will_ = std::move(p.request.will);
  keep_alive_ = p.keep_alive;  // on_packet arms the deadline once this returns
  Stats::add(broker_.stats().clients_connected);
  spdlog::debug("client {} connected (v{}, clean={}, keepalive={})", log_id(), static_cast<int>(version_),
                p.request.clean_start, p.keep_alive);
}

}  // namespace mqbase::broker
