// Listener: one configured listener as the running server sees it, shared by every connection
// it accepted: how its clients may authenticate (LinkSecurity), and the transport each new
// connection gets (none for plain MQTT over TCP; TLS, WebSocket, or both). A TLS listener
// holds its certificate as a TlsContext that reload_tls() replaces (SIGHUP): connections
// already up keep the context they started with.
// Thread-safety: make_transport() and tls_description() from any thread, concurrently with
// reload_tls(); the rest is constant after construction.
#pragma once
#include <memory>
#include <mutex>
#include <string>

#include "broker/client_link.h"
#include "net/server.h"
#include "net/transport.h"

namespace mqbase::net {

class TlsContext;

class Listener {
 public:
  // `port` is the bound one (an ephemeral port resolved). `handed_over`: the connections come
  // from the HTTP server, their WebSocket handshake done.
  Listener(ListenerOptions options, uint16_t port, bool handed_over = false);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Reads the certificate, key and CAs (again). False with the reason in `error`; the
  // context in use, if any, stays. A listener without TLS returns true.
  bool reload_tls(std::string* error);

  // The transport of a connection this listener accepted: null for plain MQTT over TCP.
  std::unique_ptr<Transport> make_transport() const;

  const ListenerOptions& options() const { return options_; }
  const broker::LinkSecurity& security() const { return security_; }
  // "127.0.0.1:8883 (MQTT over TLS; anonymous clients allowed)" for the start-up log.
  std::string describe() const;
  // The certificate in use (subject, expiry), "" without TLS.
  std::string tls_description() const;

  // True for 127.0.0.0/8 and ::1: a loopback listener allows anonymous clients by default.
  static bool is_loopback(const std::string& address);

 private:
  ListenerOptions options_;
  bool handed_over_;
  broker::LinkSecurity security_;
  mutable std::mutex tls_mutex_;
  std::shared_ptr<const TlsContext> tls_;  // under tls_mutex_
};

}  // namespace mqbase::net
