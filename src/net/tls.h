// TLS for MQTT over TLS (mqtts) and WebSocket over TLS (wss), server side, with OpenSSL 3.
//
// TlsContext is one listener's certificate, key, client-CA and protocol settings, built once
// from its TlsSettings (at start-up, and again on SIGHUP: a reload builds a new context, and
// the connections already up keep the one they started with, which the shared_ptr keeps
// alive). TlsTransport is one connection's TLS session. It never touches the socket: the
// connection hands it the bytes it read and writes the bytes it gets back, so TLS runs on our
// own event loops through two memory BIOs (net/transport.h describes the byte flow).
//
// Thread-safety: a TlsContext is immutable after load() and shared by every loop: all its
// methods may be called from any thread at once. A TlsTransport belongs to one connection and
// is used on that connection's loop only. TlsContext::load() and every TlsTransport call
// empty the thread's OpenSSL error queue as they start and as they return, so that one
// connection's errors never show up as another's reason.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "net/tls_settings.h"
#include "net/transport.h"

struct ssl_st;
struct ssl_ctx_st;
struct bio_st;

namespace mqbase::net {

class TlsTransport;

class TlsContext : public std::enable_shared_from_this<TlsContext> {
 public:
  // Reads the certificate chain, the key and (when client certificates are asked for) the
  // CAs. Returns null when anything is wrong, with `*error` naming the setting, its file and
  // OpenSSL's reason: `tls_key "/etc/mqbase/key.pem" does not match tls_cert "…": key values
  // mismatch`. Defaults: TLS 1.2 at least; TLS 1.2 ciphers ECDHE with AES-GCM or ChaCha20;
  // no compression, no renegotiation; the server's cipher order; ALPN "mqtt" accepted.
  static std::shared_ptr<TlsContext> load(const TlsSettings& settings, std::string* error);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // A new connection's TLS session, server side, waiting for the ClientHello. The transport
  // shares ownership of this context. The caller owns it.
  std::unique_ptr<TlsTransport> make_transport() const;

  // The OpenSSL context, for a server that runs TLS through another library (the HTTP API's
  // Asio streams): it must take its own reference (SSL_CTX_up_ref) to keep it.
  ssl_ctx_st* native_handle() const { return ctx_; }

  // For the start-up log: `subject "CN=broker.example", expires 2027-03-01 12:00:00Z;
  // TLS 1.2+; client certificates required`.
  std::string describe() const;

 private:
  friend class TlsTransport;
  TlsContext(ssl_ctx_st* ctx, std::string description);

  ssl_ctx_st* const ctx_;  // owned
  const std::string description_;
};

class TlsTransport final : public Transport {
 public:
  // Usually made by TlsContext::make_transport(). Throws std::bad_alloc when OpenSSL cannot
  // allocate the session.
  explicit TlsTransport(std::shared_ptr<const TlsContext> context);
  ~TlsTransport() override;
  TlsTransport(const TlsTransport&) = delete;
  TlsTransport& operator=(const TlsTransport&) = delete;

  // Runs the handshake, then decrypts every complete record in `in` into `app`. Handshake
  // records, alerts and the reply to a close_notify go to `wire`. False, with error() empty,
  // once the peer sent close_notify (answered in `wire`); false with error() "TLS handshake
  // failed: <reason>" or "TLS error: <reason>" when the stream is broken (the alert, if
  // OpenSSL made one, is in `wire`). After it returned false, it returns false at once.
  bool on_wire(std::string_view in, std::string& app, std::string& wire) override;
  // Encrypts `app` into `wire`; before the handshake is done, keeps it for then. Dropped once
  // the session is closed or broken.
  void on_app(std::string_view app, std::string& wire) override;
  // close_notify into `wire`, when the handshake was done and the session is not broken.
  void on_close(std::string& wire) override;
  std::string_view name() const override { return "tls"; }
  // The verified client certificate's subject CN, else its first DNS or email SAN; "" when
  // the client sent none or the handshake is not done.
  std::string peer_identity() const override { return peer_identity_; }
  std::string error() const override { return error_; }

  bool handshake_done() const { return handshake_done_; }
  // "TLSv1.3", "ECDHE-ECDSA-AES256-GCM-SHA384", …, for the log; "" before the handshake.
  std::string protocol_version() const;
  std::string cipher() const;

 private:
  enum class State { open, closed, failed };

  // Records the reason of a failed OpenSSL call (`ssl_result` is what it returned), moves the
  // alert to `wire`; returns false.
  bool fail(int ssl_result, std::string& wire);
  // SSL_read()s every complete record waiting into `app`; returns the result of the read
  // that stopped (0 or -1).
  int read_app(std::string& app);
  void write_app(std::string_view app, std::string& wire);
  void drain(std::string& wire);

  const std::shared_ptr<const TlsContext> context_;  // keeps ssl_'s SSL_CTX settings alive
  ssl_st* ssl_ = nullptr;
  bio_st* in_ = nullptr;   // ciphertext from the peer; owned by ssl_
  bio_st* out_ = nullptr;  // ciphertext for the peer; owned by ssl_
  State state_ = State::open;
  bool handshake_done_ = false;
  std::string early_app_;  // on_app() bytes given before the handshake finished
  std::string peer_identity_;
  std::string error_;
};

}  // namespace mqbase::net
