// Client: MQTT 5 enhanced authentication — the AUTH exchange before CONNACK, and
// re-authentication of a connected client (AUTH 0x19).
#include <spdlog/spdlog.h>

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
    case Outcome::success:
      r.auth_exchange.reset();
      if (r.pending_connect) {
        auto p = std::move(*r.pending_connect);
        r.pending_connect.reset();
        finish_connect(p, step.data);
      } else {
        mqtt::Auth a{ReasonCode::success, {}};
        a.props.add_string(PropertyId::authentication_method, r.auth_method);
        if (!step.data.empty()) a.props.add_string(PropertyId::authentication_data, step.data);
        send(a);
        spdlog::debug("client {} re-authenticated", log_id());
      }
      return;
    case Outcome::failure:
      r.auth_exchange.reset();
      spdlog::info("authentication of '{}' failed: {}",
                   connected() ? std::string_view(client_id()) : std::string_view(r.pending_connect->request.client_id),
                   step.reason);
      if (connected()) {
        disconnect_with(ReasonCode::not_authorized, step.reason);
      } else {
        refuse_connect(ReasonCode::not_authorized, step.reason);
      }
      return;
  }
}

}  // namespace mqbase::broker
