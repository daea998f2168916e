// Transport: what sits between a connection's socket and its MQTT bytes when the listener is
// not plain TCP: TLS (net/tls.h) and WebSocket framing (net/websocket.h), or both (wss: a
// Chain of the two). A plain TCP connection has none, and its read and write paths do not
// change.
//
// The connection feeds every byte read from the socket to on_wire() and handles the MQTT
// bytes that come out; it passes every MQTT byte it sends through on_app() and writes what
// comes out. A transport also sends bytes of its own (handshake records, a WebSocket pong or
// close): on_wire() appends them to `wire`, and the connection writes them before anything
// queued later.
// Thread-safety: none. A transport belongs to one connection and is used on its loop only.
#pragma once
#include <memory>
#include <string>
#include <string_view>

namespace mqbase::net {

class Transport {
 public:
  virtual ~Transport() = default;

  // Bytes read from the socket. Appends the application (MQTT) bytes they carry to `app` and
  // the bytes the transport must send itself to `wire`. Returns false when the stream is over
  // (the peer closed it at the transport's level) or broken (error() says why): the connection
  // then writes `wire`, as far as the socket takes it, and closes.
  virtual bool on_wire(std::string_view in, std::string& app, std::string& wire) = 0;

  // Application bytes to send: appended to `wire` framed (and encrypted). Bytes given before
  // the handshake has finished are kept and sent once it has.
  virtual void on_app(std::string_view app, std::string& wire) = 0;

  // The connection closes: the transport's goodbye (TLS close_notify, WebSocket close 1000),
  // appended to `wire`. Called at most once; nothing is sent after it.
  virtual void on_close(std::string& wire) { (void)wire; }

  // "tls", "ws", "wss": for logs and the views of the clients.
  virtual std::string_view name() const = 0;

  // After the handshake: the identity the peer proved (TLS: the client certificate's subject
  // CN, or its first DNS/email SAN when it has no CN); "" when none.
  virtual std::string peer_identity() const { return {}; }

  // Why the last on_wire() returned false, for the log ("" for a clean close).
  virtual std::string error() const { return {}; }
};

// Two transports stacked: `outer` on the socket (TLS), `inner` on top of it (WebSocket).
class ChainTransport final : public Transport {
 public:
  ChainTransport(std::unique_ptr<Transport> outer, std::unique_ptr<Transport> inner)
      : outer_(std::move(outer)), inner_(std::move(inner)) {}

  bool on_wire(std::string_view in, std::string& app, std::string& wire) override {
    mid_.clear();
    bool ok = outer_->on_wire(in, mid_, wire);
    if (!mid_.empty()) {
      back_.clear();
      ok = inner_->on_wire(mid_, app, back_) && ok;
      if (!back_.empty()) outer_->on_app(back_, wire);
    }
    return ok;
  }
  void on_app(std::string_view app, std::string& wire) override {
    mid_.clear();
    inner_->on_app(app, mid_);
    if (!mid_.empty()) outer_->on_app(mid_, wire);
  }
  void on_close(std::string& wire) override {
    mid_.clear();
    inner_->on_close(mid_);
    if (!mid_.empty()) outer_->on_app(mid_, wire);
    outer_->on_close(wire);
  }
  std::string_view name() const override { return "wss"; }
  std::string peer_identity() const override { return outer_->peer_identity(); }
  std::string error() const override {
    std::string e = outer_->error();
    return e.empty() ? inner_->error() : e;
  }

 private:
  std::unique_ptr<Transport> outer_, inner_;
  std::string mid_, back_;
};

}  // namespace mqbase::net
