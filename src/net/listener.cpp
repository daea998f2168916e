#include "net/listener.h"

#include <arpa/inet.h>

#include <fmt/format.h>

#include "net/tls.h"
#include "net/websocket.h"

namespace mqbase::net {

Listener::Listener(ListenerOptions options, uint16_t port, bool handed_over)
    : options_(std::move(options)), handed_over_(handed_over) {
  options_.port = port;
  const bool tls = options_.tls.enabled();
  const bool ws = options_.protocol == ListenerOptions::Protocol::websockets;
  security_.allow_anonymous = options_.allow_anonymous.value_or(is_loopback(options_.bind));
  security_.transport = tls ? (ws ? "wss" : "tls") : (ws ? "ws" : "tcp");
  security_.identity_as_username = options_.use_identity_as_username;
  security_.listener = options_.bind.find(':') != std::string::npos ? fmt::format("[{}]:{}", options_.bind, port)
                                                                     : fmt::format("{}:{}", options_.bind, port);
}

Listener::~Listener() = default;

bool Listener::is_loopback(const std::string& address) {
  in_addr v4{};
  if (::inet_pton(AF_INET, address.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, address.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return address == "localhost";
}

bool Listener::reload_tls(std::string* error) {
  if (!options_.tls.enabled()) return true;
  auto context = TlsContext::load(options_.tls, error);
  if (!context) return false;
  std::lock_guard lock(tls_mutex_);
  tls_ = std::move(context);
  return true;
}

std::unique_ptr<Transport> Listener::make_transport() const {
  std::shared_ptr<const TlsContext> tls;
  if (options_.tls.enabled()) {
    std::lock_guard lock(tls_mutex_);
    tls = tls_;
  }
  std::unique_ptr<Transport> ws;
  if (options_.protocol == ListenerOptions::Protocol::websockets)
    // A listener of its own serves any path, as mosquitto does; the HTTP port only /mqtt (its
    // router has read the request).
    ws = handed_over_ ? std::make_unique<WebSocketTransport>(WebSocketTransport::Start::upgraded)
                      : std::make_unique<WebSocketTransport>(WebSocketTransport::Start::http_upgrade, "");
  if (!tls) return ws;
  auto secure = tls->make_transport();
  if (!ws) return secure;
  return std::make_unique<ChainTransport>(std::move(secure), std::move(ws));
}

std::string Listener::describe() const {
  static constexpr const char* kinds[] = {"MQTT", "MQTT over TLS", "MQTT over WebSocket",
                                          "MQTT over WebSocket over TLS"};
  int kind = (options_.tls.enabled() ? 1 : 0) + (options_.protocol == ListenerOptions::Protocol::websockets ? 2 : 0);
  return fmt::format("{} ({}; anonymous clients {})", security_.listener, kinds[kind],
                     security_.allow_anonymous ? "allowed" : "refused");
}

std::string Listener::tls_description() const {
  std::lock_guard lock(tls_mutex_);
  return tls_ ? tls_->describe() : std::string();
}

}  // namespace mqbase::net
