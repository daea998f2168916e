// HttpServer: the HTTP API of mqbase (docs/http.md): an HTTP/1.1 server on a thread and an
// io_context of its own, apart from the MQTT event loops, serving the endpoints of router.h.
// Requests are read whole (header within read_timeout, then the body, at most max_body bytes:
// 413 beyond), answered in order on keep-alive connections; SQL and writes run on the pools,
// and their answers stream back from there (answer.h). A client that goes away while its
// query runs cancels the query.
//
// The only public http header for the server, and it includes no Boost: Beast and Asio stay
// in http_server.cpp.
//
// set_authorizer() decides who may do what, set_mqtt_upgrade() takes MQTT over WebSocket on
// /mqtt. With HttpServerOptions::tls the port speaks HTTPS only (TLS 1.2+, the settings of an
// MQTT listener's TLS); the connection in http_server.cpp is a template on its stream, so the
// TLS stream adds a handshake. A WebSocket upgrade there (wss://) cannot hand its socket to the
// MQTT loops, as ws:// does, since the TLS session stays here: the loops get one end of a socket
// pair, and the connection relays between it and the TLS stream.
//
// Thread-safety: start() and stop() from one thread (the main one); bound() after start()
// from any thread. The set_* calls before start().
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "http/answer.h"
#include "http/listen_address.h"
#include "http/query_pool.h"
#include "http/query_runner.h"
#include "http/request.h"
#include "net/tls.h"

namespace mqbase::ingest {
class Ingest;
}
namespace mqbase::store::tables {
class Tables;
}

namespace mqbase::http {

struct HttpServerOptions {
  ListenAddress listen{"127.0.0.1", 8080};
  uint64_t max_body = 64ull << 20;             // bytes of a request body (after the transfer coding)
  std::chrono::seconds read_timeout{30};       // a request's header (and an idle keep-alive wait);
                                               // its body gets this plus 1 s per MiB announced
  std::chrono::seconds write_timeout{60};      // an answer's write that makes no progress
  size_t header_limit = 32 << 10;              // bytes of a request's header: 431 beyond
  QueryLimits query;                           // SQL's time and memory limits
  size_t write_queue = 16;                     // HTTP writes waiting for the write thread
  std::shared_ptr<const net::TlsContext> tls;  // set: HTTPS only
};

class HttpServer {
 public:
  // `execute` runs SQL (Engine::execute); `ingest` (may be null: no write endpoints) takes the
  // writes; `queries` runs the SQL; `tables` (may be null: no /db/watch) are watched. All
  // outlive the server.
  HttpServer(HttpServerOptions options, Execute execute, ingest::Ingest* ingest, QueryPool& queries,
             store::tables::Tables* tables = nullptr);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void set_authorizer(Authorizer a);
  void set_mqtt_upgrade(UpgradeHandler h);
  // GET /ready, /metrics and /api/... (Router::set_operations).
  void set_operations(std::function<std::optional<Response>(const Request&)> h);
  // A new certificate and key (SIGHUP) for the connections accepted from now on; those up keep
  // theirs. Any thread, after start(); ignored when the server was started without TLS.
  void set_tls(std::shared_ptr<const net::TlsContext> tls);

  // Binds the listener and starts the I/O thread (with SIGINT, SIGTERM and SIGHUP blocked).
  // Throws std::runtime_error "cannot listen on ADDR:PORT: why" when it cannot bind.
  void start();
  // The address bound (the ephemeral port resolved). Valid after start().
  ListenAddress bound() const;

  // Stops accepting, ends the watch streams and closes idle connections; answers under way
  // get 2 s to finish, then their connections close and their queries are cancelled. Joins
  // the I/O thread and the write thread. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mqbase::http
