// Client: MQTT 5 enhanced authentication — the AUTH exchange before CONNACK, and
// re-authentication of a connected client (AUTH 0x19).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "broker/client.h"

namespace mqbase::broker {

using mqtt::PropertyId;
using mqtt::ReasonCode;

void Client::start_auth(std::string_view method, std::string_view data) {
  auto authenticator = broker_.authenticator(method);
  if (!authenticator) {
    if (connected()) {
      disconnect_with(ReasonCode::bad_authentication_method, "unknown authentication method");
    } else {
      refuse_connect(ReasonCode::bad_authentication_method, "unknown authentication method");
    }
    return;
  }
  rare().auth_method = std::string(method);
  auto& r = rare();
  std::string_view id =
      connected() ? std::string_view(client_id()) : std::string_view(r.pending_connect->request.client_id);
  std::string_view user = r.pending_connect ? std::string_view(r.pending_connect->username) : std::string_view();
  r.auth_exchange = authenticator->begin(id, user);
  on_auth_step(r.auth_exchange->step(data));
}

void Client::handle_auth(const mqtt::Auth& a) {
  auto method = a.props.string(PropertyId::authentication_method).value_or(std::string_view{});
  auto data = a.props.string(PropertyId::authentication_data).value_or(std::string_view{});
  // [MQTT-4.12.0-...]: AUTH only within the method the CONNECT chose, and never without one.
  if (auth_method().empty() || method != auth_method()) {
    if (connected()) {
      disconnect_with(ReasonCode::protocol_error, "AUTH without the connection's authentication method");
    } else {
      refuse_connect(ReasonCode::protocol_error, "AUTH with another authentication method");
    }
    return;
  }
  auto& r = rare();
  if (a.reason == ReasonCode::reauthenticate && connected() && !r.auth_exchange) {
    start_auth(method, data);
    return;
  }
  if (a.reason != ReasonCode::continue_authentication || !r.auth_exchange) {
    if (connected()) {
      disconnect_with(ReasonCode::protocol_error, "unexpected AUTH");
    } else {
      refuse_connect(ReasonCode::protocol_error, "unexpected AUTH");
    }
    return;
  }
  on_auth_step(r.auth_exchange->step(data));
}

void Client::on_auth_step(const auth::AuthStep& step) {
  using Outcome = auth::AuthStep::Outcome;
  auto& r = rare();
  switch (step.outcome) {
    case Outcome::challenge: {
      mqtt::Auth a{ReasonCode::continue_authentication, {}};
      a.props.add_string(PropertyId::authentication_method, r.auth_method);
      a.props.add_string(PropertyId::authentication_data, step.data);
      send(a);
      return;
    }
    case Outcome::success: {
      // What the exchange established is read before it goes.
      auto exchange = std::move(r.auth_exchange);
      std::string identity = exchange->identity();
      auto grants = exchange->grants();
      auto valid_until = exchange->valid_until();
      exchange.reset();
      if (r.pending_connect) {
        auto p = std::move(*r.pending_connect);
        r.pending_connect.reset();
        if (!identity.empty()) p.request.username = std::make_shared<const std::string>(std::move(identity));
        p.request.grants = std::move(grants);
        p.valid_until = valid_until;
        finish_connect(p, step.data);
        return;
      }
      // Re-authentication: the same user only; a token's grants and expiry replace the old.
      if (!identity.empty() && (!username_ || *username_ != identity)) {
        spdlog::info("client {} at {} re-authenticated as another user ('{}'): disconnected", log_id(),
                     link_->peer_address(), identity);
        disconnect_with(ReasonCode::not_authorized, "re-authentication as another user");
        return;
      }
      if (grants || r.grants) {
        r.grants = std::move(grants);
        session_->set_username(username_, r.grants);
      }
      if (valid_until) arm_token_expiry(*valid_until);
      mqtt::Auth a{ReasonCode::success, {}};
      a.props.add_string(PropertyId::authentication_method, r.auth_method);
      if (!step.data.empty()) a.props.add_string(PropertyId::authentication_data, step.data);
      send(a);
      spdlog::debug("client {} re-authenticated", log_id());
      return;
    }
    case Outcome::failure:
      r.auth_exchange.reset();
      if (connected()) {
        spdlog::info("re-authentication of '{}' at {} failed: {}", client_id(), link_->peer_address(), step.reason);
        disconnect_with(ReasonCode::not_authorized, step.reason);  // DISCONNECT has no 0x86
      } else {
        // Counted and throttled as a wrong password is.
        refuse_login(step.bad_credentials ? ReasonCode::bad_user_name_or_password : ReasonCode::not_authorized,
                     broker_.access_control()->count_failure(link_->peer_address()), step.reason,
                     r.pending_connect->request.client_id, link_->security().listener);
      }
      return;
  }
}

void Client::arm_token_expiry(std::chrono::system_clock::time_point valid_until) {
  // The timer cannot be cancelled; each arming gets a number, and only the latest one's acts.
  const uint64_t timer = ++rare().token_timer;
  auto left = std::chrono::ceil<std::chrono::milliseconds>(valid_until - std::chrono::system_clock::now());
  link_->defer(std::max(left, std::chrono::milliseconds(0)), [this, timer] {
    if (!connected() || closing_ || rare_->token_timer != timer) return;
    spdlog::info("client {} at {}: its token expired, disconnected", log_id(), link_->peer_address());
    disconnect_with(ReasonCode::maximum_connect_time, "token expired");  // 3.x: closed, no way to say why
  });
}

}  // namespace mqbase::broker
