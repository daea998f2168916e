// Server: the network side of mqbase. One event loop per thread, TCP listeners that hand
// each accepted socket to a loop (round robin), where it stays for its whole life. Owns the
// $SYS timer. The only public net header, and it includes no Boost: Asio stays in net/*.cpp.
// Thread-safety: start() and run() from the main thread; stop() from any thread.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/broker.h"
#include "net/tls_settings.h"

namespace mqbase::net {

struct ListenerOptions {
  std::string bind = "127.0.0.1";
  uint16_t port = 1883;  // 0 = ephemeral
  enum class Protocol { mqtt, websockets } protocol = Protocol::mqtt;
  TlsSettings tls;  // enabled() = TLS (mqtts, or wss with websockets)
  // Clients without credentials: unset = allowed on a loopback address only.
  std::optional<bool> allow_anonymous;
  bool use_identity_as_username = false;  // a client certificate's CN/SAN is the user name
};

struct ServerOptions {
  std::vector<ListenerOptions> listeners{ListenerOptions{}};
  unsigned threads = 0;          // 0 = one per core
  unsigned sys_interval_s = 10;  // 0 = no $SYS
  // Called on the control loop on SIGHUP, after the listeners reloaded their certificates:
  // the password file, the ACL file and the like are read again.
  std::function<void()> on_reload;
};

struct BoundListener {
  std::string bind;
  uint16_t port;
};

class Server {
 public:
  Server(broker::Broker& broker, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every listener. Throws std::runtime_error naming the address on failure.
  void start();

  // Addresses actually bound (ephemeral ports resolved). Valid after start().
  std::vector<BoundListener> bound() const;

  // Runs the event loops until stop() or SIGINT/SIGTERM; returns after every connection is
  // closed and every loop thread joined.
  void run();

  // Stops accepting, closes every connection, ends run(). Safe from any thread.
  void stop();

  // MQTT over WebSocket on the HTTP port: the HTTP server answers `GET /mqtt` with the
  // upgrade and hands the socket over. Call before start(), with the HTTP listener's address
  // (it decides whether anonymous clients are allowed, as for a listener).
  void accept_websocket_handover(const ListenerOptions& http_side);
  // From the HTTP server's threads: `fd` (non-blocking; ownership passes) carries a WebSocket
  // whose handshake was read; `greeting` (the 101 response) is sent first, `input` holds the
  // bytes read after the request, `peer` the client's address as the HTTP server accepted it
  // ("host:port"; TCP_NODELAY already set there). Closed at once when hand-over is off or the
  // server stops.
  void adopt_websocket(int fd, std::string greeting, std::string input, std::string peer);

  // What the store calls (on its writer thread) after each group commit, so that the
  // acknowledgements waiting for it go out on their loops. Valid while the Server lives.
  std::function<void(uint64_t lsn)> durable_notifier();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mqbase::net
